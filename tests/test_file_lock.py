"""`trayd.files.FileLock`, the one lock helper (agent, management window, PIN counter, trust
record): it excludes another process and another lock in the same process, and the kernel
drops it when the holder dies, however it dies."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from rig.timing import GROSS_HANG_S

from trayd.files import FileLock

ROOT = Path(__file__).resolve().parent.parent

HOLDER = """
import sys
from trayd.files import FileLock
lock = FileLock(sys.argv[1])
assert lock.acquire(wait=False)
print("held", flush=True)
sys.stdin.read()
"""


def _holder(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_another_process_holds_it_until_it_is_killed(tmp_path):
    path = tmp_path / "sub" / "x.lock"
    proc = _holder(path)
    try:
        assert FileLock(path).acquire(wait=False) is False
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    mine = FileLock(path)
    assert mine.acquire(wait=False) is True  # a killed holder leaves no stale lock
    mine.release()


def test_two_locks_in_one_process_exclude_each_other(tmp_path):
    path = tmp_path / "y.lock"
    first, second = FileLock(path), FileLock(path)
    assert first.acquire(wait=False)
    assert not second.acquire(wait=False)
    got = threading.Event()

    def waiter() -> None:
        with FileLock(path):
            got.set()

    t = threading.Thread(target=waiter)
    t.start()
    first.release()
    t.join(GROSS_HANG_S)
    assert got.is_set() and not t.is_alive()
    assert second.acquire(wait=False)
    second.release()
    second.release()  # harmless when not held
