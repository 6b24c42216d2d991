"""One caller's walk through a flow: events in, actions out.

The session never touches audio, timers or the clock directly: the adapter
calls ``start``/``digit``/``playback_done``/``timer_fired`` and carries out
the returned actions. Every playback and timer carries a fresh token; a
report with any token other than the one the session waits for is stale
(its node was already left) and is ignored.

Digit buffering ("type-ahead") rule:

* A digit is handled at once by a ``menu`` or ``collect`` node (during its
  prompt this is barge-in: ``StopPlayback`` and the digit counts), and by an
  ``interruptible`` say/play node (stop, keep the digit, move on).
* Otherwise (a non-interruptible prompt is playing, or ``start`` was not
  called yet) the digit is kept, up to 32 digits; later ones are dropped.
* A menu that is entered with kept digits takes the oldest one as its choice
  without playing its prompt; a collect takes kept digits as if typed, up to
  its terminator or ``max_length``; whatever is left stays for the next
  menu or collect. An interruptible prompt entered with kept digits is
  skipped.
* A failed attempt (invalid choice, no input) discards kept digits: the
  caller is about to hear the prompt again and should answer it fresh.

Loop guard: at most 100 node entries may follow one event from the adapter
(or one consumed kept digit); beyond that the call ends with
``Hangup("loop")``, so a ``set``/``condition`` cycle cannot spin forever.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

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
from callcenter.domain.ivr.flow import (
    CallerTest,
    CollectNode,
    ConditionNode,
    FileAudio,
    Flow,
    HangupNode,
    HoursTest,
    MenuNode,
    Node,
    PromptNode,
    PromptSpec,
    QueueNode,
    SetNode,
    Test,
    TransferNode,
)
from callcenter.domain.ivr.templates import render

MAX_TRANSITIONS = 100
MAX_TYPE_AHEAD = 32
DTMF_KEYS = frozenset("0123456789*#ABCD")


@dataclass(frozen=True)
class CallContext:
    """What the session knows about the call; exposed to flows as variables."""

    call_id: str
    caller: str
    did: str


class IvrSession:
    """The IVR state of one call. Single-threaded; not reusable after ``finished``."""

    def __init__(self, flow: Flow, context: CallContext, now: Callable[[], datetime]) -> None:
        self._flow = flow
        self._context = context
        self._now = now
        self._variables: dict[str, str] = {
            **flow.variables,
            "lang": flow.language,
            "caller": context.caller,
            "did": context.did,
            "call_id": context.call_id,
        }
        self.finished = False
        self.current_node: str | None = None
        self.path: list[str] = []
        self.digits: list[str] = []
        self._started = False
        self._type_ahead: list[str] = []
        self._sequence = 0
        self._playing: str | None = None
        self._timer: str | None = None
        self._attempts = 0
        self._entry = ""
        self._hops = 0

    @property
    def variables(self) -> Mapping[str, str]:
        """Read-only view of the call's variables (``lang``, ``caller``, ``did``, ...)."""
        return MappingProxyType(self._variables)

    # --- events ---------------------------------------------------------------------------

    def start(self) -> list[Action]:
        """Enter the flow's start node."""
        if self._started:
            raise RuntimeError("IVR session already started")
        self._started = True
        actions: list[Action] = []
        self._hops = 0
        self._enter(self._flow.start, actions)
        return actions

    def digit(self, digit: str) -> list[Action]:
        """A DTMF key from the caller: ``0``-``9``, ``*``, ``#`` or ``A``-``D``."""
        key = digit.upper()
        if key not in DTMF_KEYS:
            raise ValueError(f"not a DTMF key: {digit!r}")
        self.digits.append(key)
        actions: list[Action] = []
        if self.finished:
            return actions
        self._hops = 0
        node = self._node()
        target: str | None = None
        if isinstance(node, MenuNode):
            target = self._menu_key(node, key, actions)
        elif isinstance(node, CollectNode):
            settled, target = self._collect_key(node, key, actions)
            if not settled:
                self._start_timer(node, node.inter_digit_timeout, actions)
        elif isinstance(node, PromptNode) and node.interruptible and self._playing is not None:
            self._keep(key)
            target = node.next
        else:
            self._keep(key)
        if target is not None:
            self._enter(target, actions)
        return actions

    def playback_done(self, token: str) -> list[Action]:
        """The adapter finished (or stopped) the playback started with ``token``."""
        actions: list[Action] = []
        if self.finished or token != self._playing:
            return actions
        self._playing = None
        self._hops = 0
        node = self._node()
        if isinstance(node, PromptNode):
            self._enter(node.next, actions)
        elif isinstance(node, MenuNode | CollectNode):
            self._start_timer(node, node.timeout, actions)
        return actions

    def timer_fired(self, token: str) -> list[Action]:
        """The timer started with ``token`` ran out."""
        actions: list[Action] = []
        if self.finished or token != self._timer:
            return actions
        self._timer = None
        self._hops = 0
        node = self._node()
        target: str | None = None
        if isinstance(node, MenuNode):
            target = self._fail(node, "no_input", actions)
        elif isinstance(node, CollectNode):
            if self._entry:
                target = self._finish_collect(node, actions)
            else:
                target = self._fail(node, "no_input", actions)
        if target is not None:
            self._enter(target, actions)
        return actions

    # --- moving between nodes -------------------------------------------------------------

    def _node(self) -> Node | None:
        return None if self.current_node is None else self._flow.nodes[self.current_node]

    def _enter(self, node_id: str, actions: list[Action]) -> None:
        target: str | None = node_id
        while target is not None and not self.finished:
            target = self._visit(target, actions)

    def _visit(self, node_id: str, actions: list[Action]) -> str | None:
        """Enter one node; return the node to go to at once, or ``None`` to wait."""
        self._quiet(actions)
        self._hops += 1
        if self._hops > MAX_TRANSITIONS:
            self._end(Hangup("loop"), actions)
            return None
        node = self._flow.nodes[node_id]
        self.current_node = node_id
        self.path.append(node_id)
        self._attempts = 0
        self._entry = ""
        actions.append(NodeEntered(node_id, node.kind))
        if isinstance(node, PromptNode):
            if node.interruptible and self._type_ahead:
                return node.next
            self._play(node, node.prompts, node.interruptible, actions)
            return None
        if isinstance(node, MenuNode):
            if self._type_ahead:
                return self._menu_key(node, self._take(), actions)
            self._ask(node, node.prompts, actions)
            return None
        if isinstance(node, CollectNode):
            return self._visit_collect(node, actions)
        if isinstance(node, SetNode):
            for name, template in node.assignments.items():
                self._variables[name] = render(template, self._variables)
            return node.next
        if isinstance(node, ConditionNode):
            for case in node.cases:
                holds = self._holds(case.test)
                if isinstance(case.test, HoursTest):
                    actions.append(HoursChecked(node_id, holds))
                if holds:
                    return case.next
            return node.default
        self._end(_terminal(node), actions)
        return None

    def _end(self, terminal: Terminal, actions: list[Action]) -> None:
        self._quiet(actions)
        self._type_ahead.clear()
        actions.append(terminal)
        self.finished = True

    # --- menu and collect -----------------------------------------------------------------

    def _menu_key(self, node: MenuNode, key: str, actions: list[Action]) -> str | None:
        self._quiet(actions)
        target = node.options.get(key)
        if target is None:
            return self._fail(node, "invalid", actions)
        actions.append(MenuChosen(self.current_node or "", key, target))
        return target

    def _visit_collect(self, node: CollectNode, actions: list[Action]) -> str | None:
        while self._type_ahead:
            settled, target = self._collect_key(node, self._take(), actions)
            if settled:
                return target
        if self._entry:
            self._start_timer(node, node.inter_digit_timeout, actions)
        else:
            self._ask(node, node.prompts, actions)
        return None

    def _collect_key(
        self, node: CollectNode, key: str, actions: list[Action]
    ) -> tuple[bool, str | None]:
        """Add a key; ``(True, target)`` once it ends the attempt."""
        self._quiet(actions)
        if key == node.terminator:
            return True, self._finish_collect(node, actions)
        self._entry += key
        if len(self._entry) >= node.max_length:
            return True, self._finish_collect(node, actions)
        return False, None

    def _finish_collect(self, node: CollectNode, actions: list[Action]) -> str | None:
        value, self._entry = self._entry, ""
        if node.min_length <= len(value) and (
            node.pattern is None or node.pattern.fullmatch(value) is not None
        ):
            self._variables[node.into] = value
            actions.append(DigitsCollected(node.id, node.into, value))
            return node.on_done
        return self._fail(node, "invalid", actions)

    def _fail(self, node: MenuNode | CollectNode, kind: str, actions: list[Action]) -> str | None:
        """Count a failed attempt: ask again, or take the branch once retries are used up."""
        self._type_ahead.clear()
        self._entry = ""
        self._attempts += 1
        if self._attempts > node.retries:
            branch = node.on_invalid if kind == "invalid" else node.on_no_input
            if branch is None:
                self._end(Hangup("invalid_input" if kind == "invalid" else "no_input"), actions)
            return branch
        scold = node.invalid_prompts if kind == "invalid" else node.no_input_prompts
        self._ask(node, scold + node.prompts, actions)
        return None

    def _ask(
        self, node: MenuNode | CollectNode, prompts: tuple[PromptSpec, ...], actions: list[Action]
    ) -> None:
        """Play an interruptible prompt; the input timer starts when it is done."""
        if prompts:
            self._play(node, prompts, True, actions)
        else:
            self._start_timer(node, node.timeout, actions)

    # --- audio, timers, kept digits -------------------------------------------------------

    def _token(self, node: Node, what: str) -> str:
        self._sequence += 1
        return f"{node.id}:{what}:{self._sequence}"

    def _play(
        self,
        node: Node,
        prompts: tuple[PromptSpec, ...],
        interruptible: bool,
        actions: list[Action],
    ) -> None:
        self._playing = self._token(node, "play")
        actions.append(Play(self._render(prompts), self._playing, interruptible))

    def _start_timer(self, node: Node, seconds: float, actions: list[Action]) -> None:
        self._timer = self._token(node, "timer")
        actions.append(StartTimer(self._timer, seconds))

    def _quiet(self, actions: list[Action]) -> None:
        """Stop what this node started, so nothing of it reaches the next one."""
        if self._playing is not None:
            actions.append(StopPlayback())
            self._playing = None
        if self._timer is not None:
            actions.append(CancelTimer(self._timer))
            self._timer = None

    def _keep(self, key: str) -> None:
        if len(self._type_ahead) < MAX_TYPE_AHEAD:
            self._type_ahead.append(key)

    def _take(self) -> str:
        self._hops = 0
        return self._type_ahead.pop(0)

    def _render(self, specs: tuple[PromptSpec, ...]) -> tuple[Prompt, ...]:
        chosen = self._variables.get("lang", self._flow.language)
        prompts: list[Prompt] = []
        for spec in specs:
            if isinstance(spec, FileAudio):
                prompts.append(PlayFile(spec.path))
                continue
            language = chosen if chosen in spec.texts else self._flow.language
            if language not in spec.texts:  # a text pinned to one language
                language = next(iter(spec.texts))
            prompts.append(Say(render(spec.texts[language], self._variables), language))
        return tuple(prompts)

    def _holds(self, test: Test) -> bool:
        if isinstance(test, HoursTest):
            return test.hours.is_open(self._now())
        if isinstance(test, CallerTest):
            return test.pattern.search(self._context.caller) is not None
        value = self._variables.get(test.variable, "")
        if test.equals is not None:
            return value == test.equals
        return test.matches is not None and test.matches.search(value) is not None


def _terminal(node: QueueNode | TransferNode | HangupNode) -> Terminal:
    if isinstance(node, QueueNode):
        return EnterQueue(node.queue, node.priority, MappingProxyType(dict(node.skills)))
    if isinstance(node, TransferNode):
        return Transfer(node.target)
    return Hangup(node.reason)
