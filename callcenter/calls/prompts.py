"""Turning the IVR's prompts into the 8 kHz WAV files a media worker plays.

Rendering (espeak-ng, sox) takes tens of milliseconds, far too long for the reactor thread,
so every prompt a flow can play is rendered in a thread when the flow is loaded; a call then
finds its prompts ready. Prompts only known during a call (text with variables) are rendered
on demand, in a thread too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, DeferredList, succeed

from callcenter.domain.ivr.actions import Prompt, Say

log = logging.getLogger(__name__)

RunInThread = Callable[..., Deferred[Path]]


class PromptFiles:
    def __init__(
        self,
        cache_dir: Path,
        render_say: Callable[[str, str, Path], Path],
        convert_wav: Callable[[Path, Path], Path],
        run_in_thread: RunInThread,
    ) -> None:
        self._cache_dir = cache_dir
        self._render_say = render_say
        self._convert_wav = convert_wav
        self._run_in_thread = run_in_thread
        self._ready: dict[Prompt, Path] = {}

    def _render(self, prompt: Prompt) -> Deferred[Path]:
        if prompt in self._ready:
            return succeed(self._ready[prompt])
        if isinstance(prompt, Say):
            d = self._run_in_thread(self._render_say, prompt.text, prompt.language, self._cache_dir)
        else:
            d = self._run_in_thread(self._convert_wav, Path(prompt.path), self._cache_dir)

        def keep(path: Path) -> Path:
            self._ready[prompt] = path
            return path

        return d.addCallback(keep)

    def resolve(self, prompts: Iterable[Prompt]) -> Deferred[list[Path]]:
        """The files for these prompts, in order; fails if one cannot be rendered."""
        pending = [self._render(p) for p in prompts]
        d: Deferred[list[tuple[bool, Path]]] = DeferredList(
            pending, fireOnOneErrback=True, consumeErrors=True
        )
        return d.addCallback(lambda results: [path for _, path in results])

    def prepare(self, prompts: Iterable[Prompt]) -> Deferred[list[str]]:
        """Render ahead of time; returns one message per prompt that failed (logged too)."""
        prompts = list(prompts)
        pending: list[Deferred[Any]] = [self._render(p) for p in prompts]
        d: Deferred[list[tuple[bool, object]]] = DeferredList(pending, consumeErrors=True)

        def report(results: list[tuple[bool, object]]) -> list[str]:
            problems = []
            for prompt, (ok, value) in zip(prompts, results, strict=True):
                if not ok:
                    what = prompt.text if isinstance(prompt, Say) else prompt.path
                    problem = f"prompt {what!r} could not be rendered: {value}"
                    log.error(problem)
                    problems.append(problem)
            return problems

        return d.addCallback(report)
