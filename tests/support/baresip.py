"""baresip (Debian package) as a headless agent softphone, for tests.

It runs with a temporary config dir (``-f``) with only ``account.so`` loaded, no audio or UI
modules, listening on loopback, and ``-t`` as a hard stop in case a test's clean-up never runs.
Debian 12's baresip 1.0 (libre 1.1) gives up on any SHA-256 challenge, so the registrar offers
it MD5 alone (by its User-Agent). With a wrong password it retries without end.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

BARESIP = shutil.which("baresip")

CONFIG = """\
poll_method\t\tepoll
sip_listen\t\t127.0.0.1:0
sip_trans_def\t\tudp
module_path\t\t/usr/lib/baresip/modules
module_app\t\taccount.so
audio_player\t\tnone
audio_source\t\tnone
audio_alert\t\tnone
"""


class Softphone:
    def __init__(
        self, workdir: Path, front_port: int, password: str, username: str = "agent1"
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "config").write_text(CONFIG)
        (workdir / "accounts").write_text(
            f"<sip:{username}@127.0.0.1:{front_port};transport=udp>"
            f";auth_pass={password};regint=60\n"
        )
        self.log_path = workdir / "baresip.log"
        self._log = self.log_path.open("w")
        assert BARESIP is not None
        self.process = subprocess.Popen(
            [BARESIP, "-f", str(workdir), "-t", "30"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HOME": str(workdir)},
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 5.0) -> int:
        """SIGTERM (baresip then un-registers), SIGKILL if it does not exit in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode
