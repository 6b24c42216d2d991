"""Real headless Chromium (Debian's ``chromium`` + ``chromedriver``) driven with Selenium."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as DriverService

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"

T = TypeVar("T")


def _binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


@contextmanager
def chromium(width: int = 1920, height: int = 1080) -> Iterator[webdriver.Chrome]:
    """A headless Chromium window; the test is skipped with a reason when it is not installed
    (``./dev`` installs it: Debian packages ``chromium`` and ``chromium-driver``)."""
    browser = _binary("chromium", "chromium-browser")
    driver_path = _binary("chromedriver")
    if browser is None or driver_path is None:
        pytest.skip("Debian packages chromium and chromium-driver are not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=DriverService(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def until(check: Callable[[], T], timeout: float = 15.0, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy; AssertionError with the last value."""
    import time

    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        last = value
        time.sleep(interval)
    raise AssertionError(f"condition not reached in {timeout} s; last: {last!r}")


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    """Save a PNG under ``test-artifacts/`` (kept after the test, for people to look at)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path
