"""Build the one pjsua2 Endpoint of a media worker.

Everything measured about pjsua2 on our machines lives here as configuration: no pjsua2 worker
threads (``threadCnt=0``) and callbacks on the main thread only, a null sound device, an 8 kHz
clock, SIP on loopback (only the SIP front talks to a worker) and RTP on the media address with
the worker's own port range. G.711 only: the other codecs cost CPU and the front's callers and
agents all speak PCMU/PCMA.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

import pjsua2 as pj

log = logging.getLogger(__name__)

SIP_ADDRESS = "127.0.0.1"
CLOCK_RATE = 8000
PREFERRED_CODECS = ("PCMU/8000/1", "PCMA/8000/1")


@dataclass(frozen=True)
class EndpointSettings:
    """What the command line of a worker says about its pjsua2 set-up."""

    sip_port: int  # 0: any free port on loopback
    rtp_port_start: int
    rtp_port_count: int
    media_address: str
    max_calls: int
    pj_log_level: int = 1  # pjsua's own log: 0 off, 1 errors ... 5 very chatty


class StderrLogWriter(pj.LogWriter):  # type: ignore[misc]
    """Send pjsua's log lines to stderr: stdout must stay clean and logs belong to the pool."""

    def write(self, entry: pj.LogEntry) -> None:
        sys.stderr.write(entry.msg if entry.msg.endswith("\n") else entry.msg + "\n")


# pjsua keeps a raw pointer to the writer: it must outlive the Endpoint.
_LOG_WRITER = StderrLogWriter()


def create_endpoint(settings: EndpointSettings) -> tuple[pj.Endpoint, int]:
    """Create, initialise and start the Endpoint; returns it and the bound SIP UDP port."""
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.maxCalls = settings.max_calls
    cfg.uaConfig.userAgent = "callcenter-media"
    cfg.logConfig.level = settings.pj_log_level
    cfg.logConfig.consoleLevel = settings.pj_log_level
    cfg.logConfig.writer = _LOG_WRITER
    cfg.medConfig.clockRate = CLOCK_RATE
    cfg.medConfig.sndClockRate = CLOCK_RATE
    cfg.medConfig.channelCount = 1
    cfg.medConfig.noVad = True  # keep RTP flowing during silence; callers' NATs and jitter
    # buffers behave better with a steady stream.
    ep.libInit(cfg)

    tcfg = pj.TransportConfig()
    tcfg.port = settings.sip_port
    tcfg.boundAddress = SIP_ADDRESS
    transport_id = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    _prefer_g711(ep)
    local_name = ep.transportGetInfo(transport_id).localName  # "127.0.0.1:5062"
    return ep, int(local_name.rsplit(":", 1)[1])


def _prefer_g711(ep: pj.Endpoint) -> None:
    for codec in ep.codecEnum2():
        priority = 0
        if codec.codecId in PREFERRED_CODECS:
            priority = 255 - PREFERRED_CODECS.index(codec.codecId)
        ep.codecSetPriority(codec.codecId, priority)


def account_config(settings: EndpointSettings, sip_port: int) -> pj.AccountConfig:
    """The worker's single, registration-free account; incoming INVITEs all land on it."""
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:media@{SIP_ADDRESS}:{sip_port}"
    rtp = acfg.mediaConfig.transportConfig
    rtp.port = settings.rtp_port_start
    rtp.portRange = settings.rtp_port_count
    rtp.boundAddress = settings.media_address
    rtp.publicAddress = settings.media_address
    return acfg
