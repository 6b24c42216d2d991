"""A real PostgreSQL server in a temporary directory on a free port, always stopped after.

Uses the Debian ``postgresql`` package's binaries (``/usr/lib/postgresql/<version>/bin``).
PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` user
(``runuser``). Without the binaries, tests needing it are skipped with that reason.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.support.ports import free_port


@dataclass
class PostgresServer:
    port: int
    data_dir: Path
    bin_dir: Path
    run_as: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        log = self.data_dir.parent / "postgres.log"
        subprocess.run(
            [*self.run_as, str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(log),
             "-w", "-t", "60", "-o",
             f"-p {self.port} -c listen_addresses=127.0.0.1 "
             f"-c unix_socket_directories={self.data_dir.parent} -c fsync=off",
             "start"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        subprocess.run(
            [*self.run_as, str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast",
             "-w", "stop"],
            check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip


def postgres_bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def unavailable_reason() -> str | None:
    """Why no PostgreSQL can run here (None: it can)."""
    if postgres_bin_dir() is None:
        return "PostgreSQL binaries not installed (Debian package postgresql; ./dev installs it)"
    if os.geteuid() == 0 and (shutil.which("runuser") is None or not _has_user("postgres")):
        return "running as root without a 'postgres' user to run PostgreSQL as"
    return None


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    bin_dir = postgres_bin_dir()
    assert bin_dir is not None
    root = Path(tempfile.mkdtemp(prefix="cc-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres", "postgres")
    data_dir = root / "data"
    server = PostgresServer(free_port(), data_dir, bin_dir, run_as)
    try:
        subprocess.run(
            [*run_as, str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres",
             "--auth=trust", "--no-sync", "-E", "UTF8"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
