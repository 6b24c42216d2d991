"""Supervisor monitoring of a live conversation: listen, whisper, barge (ChanSpy's modes).

Pure rules, no I/O: which dialled numbers ask for which mode on which agent, which DTMF key
switches to which mode, and who hears the supervisor in each mode. The adapters
(:mod:`callcenter.monitor`) turn them into worker commands.

-*- test-case-name: tests.unit.monitor.test_domain -*-
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Mode(StrEnum):
    """What the supervisor does to the conversation; the supervisor always hears both sides."""

    LISTEN = "listen"  # nobody hears the supervisor
    WHISPER = "whisper"  # the agent hears the supervisor, the caller does not
    BARGE = "barge"  # caller and agent both hear the supervisor


#: DTMF keys that switch mode during a session (as Asterisk's ChanSpy does).
MODE_KEYS: Mapping[str, Mode] = {"4": Mode.LISTEN, "5": Mode.WHISPER, "6": Mode.BARGE}

#: How long an agent id after the code may be (a phone sends what the supervisor typed).
MAX_AGENT_ID_LENGTH = 64


@dataclass(frozen=True)
class Supervisor:
    """A person allowed to monitor; authenticates with ``sip_username`` and its password."""

    id: str
    name: str
    sip_username: str


@dataclass(frozen=True)
class MonitorRequest:
    """A dialled monitor code: ``mode`` on ``agent_id``."""

    mode: Mode
    agent_id: str


@dataclass(frozen=True)
class Hearing:
    """Who hears the supervisor in a mode (the supervisor hears caller and agent always)."""

    caller: bool
    agent: bool


def hearing(mode: Mode) -> Hearing:
    """Listen: nobody; whisper: the agent only; barge: both."""
    return Hearing(caller=mode is Mode.BARGE, agent=mode is not Mode.LISTEN)


def parse_monitor_code(did: str, codes: Mapping[Mode, str]) -> MonitorRequest | None:
    """The request a dialled number makes (``*51ann``: whisper to ann), None for other numbers.

    The longest matching code wins, so codes that are prefixes of one another still work;
    ``%2A`` (an escaped ``*``) is accepted as some phones send it. The agent id is whatever
    follows the code; an empty one is no request.
    """
    dialled = urllib.parse.unquote(did)
    for mode, code in sorted(codes.items(), key=lambda item: -len(item[1])):
        if code and dialled.startswith(code):
            agent_id = dialled[len(code) :]
            if 0 < len(agent_id) <= MAX_AGENT_ID_LENGTH and agent_id.isprintable():
                return MonitorRequest(mode, agent_id)
            return None
    return None


def mode_for_key(digit: str) -> Mode | None:
    """The mode a DTMF key switches to during a session, None for any other key."""
    return MODE_KEYS.get(digit)
