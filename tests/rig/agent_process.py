"""The real `trayd run` as a child process, with its log captured for assertions.

Why a child: the agent owns signals, a per-session lock and threads; running it the way
the desktop's autostart does is the only honest test of start-up, shutdown and hotplug.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from rig.trayd_cli import TRAYD


class AgentProcess:
    def __init__(self, env: Mapping[str, str], log_path: Path, *args: str) -> None:
        self.env = dict(env)
        self.log_path = Path(log_path)
        self.args = args or ("run", "--no-tray", "-v")
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self, wait_ready: bool = True, timeout: float = 20.0) -> "AgentProcess":
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([*TRAYD, *self.args], env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if wait_ready:
            self.wait_log("PC/SC monitor watching", timeout=timeout)
        return self

    @property
    def pid(self) -> int:
        assert self.proc
        return self.proc.pid

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def wait_log(self, needle: str, count: int = 1, timeout: float = 20.0) -> None:
        """Wait until `needle` appears `count` times in the log (or fail with the log)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log_text().count(needle) >= count:
                return
            if self.proc and self.proc.poll() is not None:
                raise AssertionError(f"trayd exited ({self.proc.returncode}) before "
                                     f"{needle!r}:\n{self.log_text()[-4000:]}")
            time.sleep(0.02)
        raise AssertionError(f"no {needle!r} x{count} in the agent log after {timeout}s:\n"
                             f"{self.log_text()[-4000:]}")

    def alive(self) -> bool:
        return bool(self.proc and self.proc.poll() is None)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> tuple[int, float]:
        """Send `sig`; returns (exit status, seconds until the process was gone)."""
        assert self.proc
        t0 = time.monotonic()
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(5)
        elapsed = time.monotonic() - t0
        if self._log:
            self._log.close()
            self._log = None
        return rc, elapsed

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))
