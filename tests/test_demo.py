"""`make demo` works on a machine with no token and no desktop (`--xvfb`), and cleans up."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rig.xserver import have_gui_tools

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.gui,
              pytest.mark.skipif(bool(have_gui_tools()), reason="GUI tools missing")]


def test_demo_runs_the_agent_with_a_virtual_token_and_cleans_up(tmp_path: Path):
    env = dict(os.environ)
    for var in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "PCSCLITE_CSOCK_NAME"):
        env.pop(var, None)
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "demo.py"), "--xvfb"],
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, encoding="utf-8")
    assert proc.stdin and proc.stdout
    lines: list[str] = []

    def read_until(needle: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if needle in line:
                return
        raise AssertionError(f"no {needle!r} in the demo output:\n{''.join(lines)}")

    try:
        read_until("agent running")
        read_until("token 1 inserted")
        read_until("management window opened")
        read_until("notification: トークンが挿入されました。")
        home = next(line.split("HOME ", 1)[1].strip() for line in lines if "temporary HOME" in line)
        proc.stdin.write("r\n")
        proc.stdin.flush()
        read_until("notification: トークンが外されました。")
        proc.stdin.write("q\n")
        proc.stdin.flush()
        read_until("[demo] stopped", timeout=30)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    # Everything it started is gone, including its temporary HOME.
    assert not Path(home).exists()
    out = "".join(lines)
    assert "error" not in out.lower(), out
