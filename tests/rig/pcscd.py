"""A private pcscd with the vpcd driver, one per test session.

Why private: pcscd 1.9 always creates its socket at /run/pcscd/pcscd.comm, so we start it
in its own mount namespace with a private directory bound over /run/pcscd. Clients (the
tests, trayd, OpenSC, pkcs11-tool) reach it through `PCSCLITE_CSOCK_NAME`, which
libpcsclite honours. Each instance gets its own vpcd ports, so several test sessions (and
a user's real pcscd) can run side by side. Stop/start/kill model "pcscd stopped / restarted".
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from functools import cache
from pathlib import Path

VPCD_DRIVER = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"


def pcscd_binary() -> str:
    return shutil.which("pcscd") or "/usr/sbin/pcscd"


@cache
def supports_disable_polkit() -> bool:
    """pcsc-lite 2.x built with polkit (Debian 13) has --disable-polkit; 1.9.9 exits on it.

    Asked of the daemon itself (`pcscd --help`), not of the distribution's name.
    """
    r = subprocess.run([pcscd_binary(), "--help"], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=10)
    return "--disable-polkit" in r.stdout + r.stderr


class PrivatePcscd:
    """`polkit=True` keeps pcscd's polkit check (where it has one): to provoke a refusal."""

    def __init__(self, workdir: Path, base_port: int, debug: bool = False,
                 polkit: bool = False) -> None:
        self.workdir = Path(workdir)
        self.base_port = base_port
        self.debug = debug
        self.polkit = polkit
        self.conf_dir = self.workdir / "reader.conf.d"
        self.run_dir = self.workdir / "run"
        self.log_path = self.workdir / "pcscd.log"
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "pcscd.comm"

    @property
    def env(self) -> dict[str, str]:
        return {"PCSCLITE_CSOCK_NAME": str(self.socket_path)}

    def port(self, slot: int = 0) -> int:
        return self.base_port + slot

    def _write_conf(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "vpcd").write_text(
            'FRIENDLYNAME "Virtual PCD"\n'
            f"DEVICENAME   /dev/null:0x{self.base_port:X}\n"
            f"LIBPATH      {VPCD_DRIVER}\n"
            f"CHANNELID    0x{self.base_port:X}\n"
        )

    def start(self, timeout: float = 15.0) -> None:
        if self.proc and self.proc.poll() is None:
            return
        if not Path(VPCD_DRIVER).exists():
            raise RuntimeError(f"{VPCD_DRIVER} missing: install vsmartcard-vpcd")
        self._write_conf()
        for stale in (self.socket_path, self.run_dir / "pcscd.pid"):
            stale.unlink(missing_ok=True)
        pcscd = pcscd_binary()
        level = "-a -d" if self.debug else "-i"
        # A private test daemon has no desktop session for polkit to find active.
        if not self.polkit and supports_disable_polkit():
            level += " --disable-polkit"
        script = (
            "mount --make-rprivate / 2>/dev/null; mkdir -p /run/pcscd; "
            f"mount --bind '{self.run_dir}' /run/pcscd && "
            f"exec '{pcscd}' -f {level} -c '{self.conf_dir}'"
        )
        unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-r", "-m"]
        self._log = open(self.log_path, "ab")
        start_offset = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            [*unshare, "sh", "-c", script],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pcscd exited early: {self.log_tail()}")
            with open(self.log_path, "rb") as f:
                f.seek(start_offset)
                if b"daemon ready" in f.read() and self.socket_path.exists():
                    return
            time.sleep(0.05)
        raise RuntimeError(f"pcscd not ready after {timeout}s: {self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Stop pcscd (SIGKILL models a crash)."""
        if not self.proc:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None
        self.socket_path.unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return bool(self.proc and self.proc.poll() is None)

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""
