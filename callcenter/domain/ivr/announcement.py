"""A flow that says one thing and hangs up, built in code rather than read from a file.

Used to answer calls that are not IVR calls, e.g. an agent's feature code ("Agent Ann logged
in."), with the same machinery (rendering, playback, call record) as every other call.
"""

from __future__ import annotations

from callcenter.domain.ivr.flow import Flow, HangupNode, PromptNode, SayText


def announcement(text: str, language: str = "en", reason: str = "announced") -> Flow:
    return Flow(
        path="<announcement>",
        version=1,
        start="say",
        language=language,
        variables={},
        nodes={
            "say": PromptNode("say", "say", (SayText({language: text}),), next="done"),
            "done": HangupNode("done", reason),
        },
    )
