"""The real service (`callcenter serve`) as a subprocess, on free ports, for end-to-end tests."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "e2e-admin-token-0123456789"
SUPERVISOR_TOKEN = "e2e-supervisor-token-0123456789"
AGENT_TOKEN = "e2e-agent-token-0123456789"


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    sip_port: int
    http_port: int
    data_dir: Path
    log_path: Path
    config_path: Path
    extra_args: list[str] = field(default_factory=list)

    @property
    def sip_uri_host(self) -> str:
        return f"127.0.0.1:{self.sip_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def api(
        self, path: str, token: str | None = ADMIN_TOKEN, method: str = "GET", body: Any = None
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method
        )
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def call(self, call_id: str) -> dict[str, Any]:
        status, body = self.api(f"/api/calls/{call_id}")
        assert status == 200, (status, body)
        return dict(body)

    def wait_call(
        self, call_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 15.0
    ) -> dict[str, Any]:
        """Poll the call record until ``done`` holds; fail with the last record seen."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            status, last = self.api(f"/api/calls/{call_id}")
            if status == 200 and done(last):
                return dict(last)
            time.sleep(0.1)
        raise AssertionError(f"call {call_id} never reached the expected state; last: {last}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"callcenter ignored {signal.Signals(sig).name}") from None
        return int(self.process.returncode)


def write_config(path: Path, settings: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(settings))


@contextmanager
def running_service(
    tmp_path: Path,
    redis_url: str | None = None,
    settings: dict[str, Any] | None = None,
    wait_ready: bool = True,
    data_dir: Path | None = None,
    ports: tuple[int, int] | None = None,
) -> Iterator[Service]:
    """Start `callcenter serve` with a config under tmp_path; always stopped and reaped.

    ``data_dir`` (default ``tmp_path / "data"``): pass the same one again to restart a service
    on its earlier state (embedded Redis, prompt cache, generated token). ``ports`` (SIP,
    HTTP): pass a stopped service's again to restart it where its clients look for it.
    """
    data_dir = tmp_path / "data" if data_dir is None else data_dir
    sip_port, http_port = ports if ports is not None else (free_port(), free_port())
    config: dict[str, Any] = {
        "flows_dir": str(REPO / "ivr_flows"),
        "sip": {"host": "127.0.0.1", "port": sip_port},
        "http": {
            "host": "127.0.0.1",
            "port": http_port,
            "tokens": {ADMIN_TOKEN: "admin", SUPERVISOR_TOKEN: "supervisor", AGENT_TOKEN: "agent"},
        },
        "media": {"rtp_port_start": random.randrange(30000, 50000, 100), "spare_workers": 1},
    }
    for section, values in (settings or {}).items():
        if isinstance(values, dict) and isinstance(config.get(section), dict):
            config[section].update(values)
        else:
            config[section] = values
    config_path = tmp_path / "callcenter.yaml"
    write_config(config_path, config)
    args = [sys.executable, "-m", "callcenter", "serve", "--config", str(config_path)]
    args += ["--data-dir", str(data_dir)]
    if redis_url is not None:
        args += ["--redis-url", redis_url]
    log_path = tmp_path / "callcenter.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            args, cwd=tmp_path, stdout=log_file, stderr=subprocess.STDOUT, env=env
        )
    service = Service(process, sip_port, http_port, data_dir, log_path, config_path)
    try:
        if wait_ready:
            _wait_ready(service)
        yield service
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(service: Service, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise AssertionError(f"callcenter exited early:\n{service.log()}")
        try:
            status, _ = service.api("/healthz", token=None)
            if status == 200:
                return
        except (urllib.error.URLError, ConnectionError, json.JSONDecodeError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"callcenter not ready in {timeout}s:\n{service.log()}")
