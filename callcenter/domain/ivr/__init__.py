"""Pure IVR domain: flow files, their validation, and the per-call engine.

No Twisted, pjsua2 or Redis here: the engine takes events and returns
actions (see :mod:`callcenter.domain.ivr.actions`), and adapters do the I/O.
"""

from callcenter.domain.ivr.actions import (
    Action,
    CancelTimer,
    DigitsCollected,
    EnterQueue,
    Hangup,
    HoursChecked,
    MenuChosen,
    NodeEntered,
    Play,
    PlayFile,
    Prompt,
    Say,
    StartTimer,
    StopPlayback,
    Terminal,
    Transfer,
)
from callcenter.domain.ivr.engine import CallContext, IvrSession
from callcenter.domain.ivr.flow import Flow
from callcenter.domain.ivr.library import FlowLibrary
from callcenter.domain.ivr.loader import check_files, load_flow
from callcenter.domain.ivr.problems import FlowError, FlowProblem

__all__ = [
    "Action",
    "CallContext",
    "CancelTimer",
    "DigitsCollected",
    "EnterQueue",
    "Flow",
    "FlowError",
    "FlowLibrary",
    "FlowProblem",
    "Hangup",
    "HoursChecked",
    "IvrSession",
    "MenuChosen",
    "NodeEntered",
    "Play",
    "PlayFile",
    "Prompt",
    "Say",
    "StartTimer",
    "StopPlayback",
    "Terminal",
    "Transfer",
    "check_files",
    "load_flow",
]
