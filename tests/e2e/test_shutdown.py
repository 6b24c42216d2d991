"""Stopping the service is calm however it is asked: repeated signals, or during start-up."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import psutil
import pytest

from tests.support.service import running_service

pytestmark = pytest.mark.e2e


def _descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def test_a_second_sigterm_while_stopping_is_harmless(tmp_path: Path) -> None:
    with running_service(tmp_path) as service:
        children = _descendants(service.process.pid)
        assert children, "the service should have a media worker and redis-server"
        service.process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        assert service.stop(signal.SIGTERM) == 0
        assert "Traceback" not in service.log()
        assert "CRITICAL" not in service.log()
        _, alive = psutil.wait_procs(children, timeout=5)
        assert alive == []


def test_sigterm_during_start_up_stops_cleanly(tmp_path: Path) -> None:
    settings = {"media": {"min_workers": 12}}  # start-up takes a while
    with running_service(tmp_path, settings=settings, wait_ready=False) as service:
        time.sleep(1.0)
        children = _descendants(service.process.pid)
        assert service.stop(signal.SIGTERM) == 0
        log = service.log()
        assert "cannot start" not in log
        assert "Traceback" not in log
        _, alive = psutil.wait_procs(children, timeout=5)
        assert alive == []
