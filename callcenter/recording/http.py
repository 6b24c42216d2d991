"""The recordings API.

- ``GET /api/recordings?since=&until=&queue=&agent=&limit=`` (supervisor): sidecars, newest
  first; ``since``/``until`` are Unix seconds or ``YYYY-MM-DD`` (UTC; ``until`` a date means
  the end of that day).
- ``GET /api/recordings/{call_id}`` (supervisor): one sidecar.
- ``GET /api/recordings/{call_id}/audio`` (supervisor): the stereo WAV (``audio/wav``).
- ``GET /api/recordings/{call_id}/ivr`` and ``/ivr/audio`` (supervisor): the IVR part's
  recording (``recording.ivr_leg``).
- ``POST /api/calls/{call_id}/recording/pause`` and ``/resume``: a supervisor, or the agent
  token bound to the agent on the call.

Recordings hold what callers said (card numbers before a pause, health details): only
supervisors read them. File look-ups run in the thread pool.

-*- test-case-name: tests.e2e.test_recording -*-
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request
from twisted.web.static import File

from callcenter.domain.recording import CONVERSATION, IVR
from callcenter.recording.files import RecordingStore, day_range
from callcenter.recording.service import RecordingService, RecordingStateError
from callcenter.web.auth import TokenAuth, rank
from callcenter.web.errors import ApiError, BadRequestError, ForbiddenError, NotFoundError
from callcenter.web.json_api import JsonEndpoint, Reply, query_arg, write_json

log = logging.getLogger(__name__)
T = TypeVar("T")
InThread = Callable[..., Deferred[Any]]
MAX_LIMIT = 1000


class RecordingsResource(Resource):
    def __init__(self, auth: TokenAuth, store: RecordingStore, in_thread: InThread) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._auth = auth
        self._store = store
        self._in_thread = in_thread
        self._list = JsonEndpoint(auth, {b"GET": ("supervisor", self._listing)})

    def getChild(self, path: bytes, request: Request) -> Resource:  # noqa: N802 - twisted.web
        if path == b"":
            return self._list
        call_id = path.decode("utf-8", "replace")
        rest = list(request.postpath or [])
        leg = CONVERSATION
        if rest[:1] == [b"ivr"]:
            leg, rest = IVR, rest[1:]
        if rest == [b"audio"]:
            return AudioDownload(self._auth, self._store, self._in_thread, call_id, leg)

        async def sidecar(_: Request) -> Reply:
            if rest:
                raise NotFoundError(
                    "no such resource (use /api/recordings/<call id>[/ivr][/audio])"
                )
            document = await _off_reactor(self._in_thread(self._store.sidecar, call_id, leg))
            if document is None:
                what = "IVR recording" if leg == IVR else "recording"
                raise NotFoundError(f"no {what} of call {call_id!r}")
            return 200, document

        return JsonEndpoint(self._auth, {b"GET": ("supervisor", sidecar)})

    def render(self, request: Request) -> Any:
        return self._list.render(request)

    async def _listing(self, request: Request) -> Reply:
        since = _time_arg(query_arg(request, "since"), "since", end_of_day=False)
        until = _time_arg(query_arg(request, "until"), "until", end_of_day=True)
        limit_text = query_arg(request, "limit") or "100"
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
            raise BadRequestError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
        found = await _off_reactor(
            self._in_thread(
                self._store.find,
                since,
                until,
                query_arg(request, "queue"),
                query_arg(request, "agent"),
                int(limit_text),
            )
        )
        return 200, {"recordings": found, "count": len(found)}


async def _off_reactor(work: Deferred[T]) -> T:
    """A thread-pool Deferred awaited from an asyncio task (the handlers' world)."""
    return await work.asFuture(asyncio.get_running_loop())


def _time_arg(raw: str | None, name: str, end_of_day: bool) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        start, end = day_range(raw)
    except ValueError:
        raise BadRequestError(f"{name} must be Unix seconds or YYYY-MM-DD, got {raw!r}") from None
    return end if end_of_day else start


class AudioDownload(Resource):
    """The WAV itself, streamed by twisted.web's static file resource (ranges included)."""

    isLeaf = True  # noqa: N815 - twisted.web API name

    def __init__(
        self,
        auth: TokenAuth,
        store: RecordingStore,
        in_thread: InThread,
        call_id: str,
        leg: str = CONVERSATION,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._auth = auth
        self._store = store
        self._in_thread = in_thread
        self._call_id = call_id
        self._leg = leg

    def render(self, request: Request) -> Any:
        if request.method not in (b"GET", b"HEAD"):
            request.setHeader(b"allow", b"GET, HEAD")
            return _error(request, 405, "method-not-allowed", "use GET")
        header = request.getHeader(b"authorization")
        try:
            self._auth.require(header.decode("latin-1") if header else None, "supervisor")
        except ApiError as exc:
            return _error(request, exc.status, exc.error_id, exc.message)
        found: Deferred[Path | None] = self._in_thread(
            self._store.audio_path, self._call_id, self._leg
        )
        found.addCallback(self._send, request).addErrback(self._crash, request)
        return NOT_DONE_YET

    def _send(self, path: Path | None, request: Request) -> None:
        if path is None:
            _error(request, 404, "not-found", f"no recording of call {self._call_id!r}")
            return
        audio = File(str(path), defaultType="audio/wav")
        audio.type, audio.encoding = "audio/wav", None  # set by getChild normally
        request.setHeader(
            b"content-disposition",
            f'attachment; filename="{path.name}"'.encode("latin-1", "replace"),
        )
        body = audio.render(request)
        if body is not NOT_DONE_YET:
            request.write(body)
            request.finish()

    def _crash(self, failure: Failure, request: Request) -> None:
        log.error("recording download failed: %s", failure.getTraceback())
        if not request.finished:
            _error(request, 500, "internal", "internal error")


def _error(request: Request, status: int, error_id: str, message: str) -> int:
    """A JSON error written now (``render`` may return the bytes' NOT_DONE_YET stand-in)."""
    write_json(request, status, {"error_id": error_id, "message": message, "status": status})
    return NOT_DONE_YET


class CallRecordingControl(Resource):
    """``/api/calls/{call_id}/recording/{pause,resume}``."""

    def __init__(self, auth: TokenAuth, recordings: RecordingService, call_id: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._auth = auth
        self._recordings = recordings
        self._call_id = call_id
        for action in (b"pause", b"resume"):
            self.putChild(action, JsonEndpoint(auth, {b"POST": ("agent", self._handler(action))}))

    def _handler(self, action: bytes) -> Callable[[Request], Any]:
        async def act(request: Request) -> Reply:
            header = request.getHeader(b"authorization")
            principal = self._auth.principal_of(header.decode("latin-1") if header else None)
            try:
                active = self._recordings.recording_of(self._call_id)
                if rank(principal.role) >= rank("supervisor"):
                    by = principal.role
                elif principal.agent_id is not None and principal.agent_id == active.agent:
                    by = principal.agent_id
                else:
                    raise ForbiddenError(
                        "only a supervisor or the agent on this call may pause its recording"
                    )
                if action == b"pause":
                    self._recordings.pause(self._call_id, by)
                else:
                    self._recordings.resume(self._call_id, by)
            except RecordingStateError as exc:
                error = ApiError(str(exc))
                error.status, error.error_id = exc.status, exc.error_id
                raise error from None
            return 200, {
                "call_id": self._call_id,
                "paused": active.pauses.paused,
                "pauses": [p.as_dict(time.time()) for p in active.pauses.items],
            }

        return act
