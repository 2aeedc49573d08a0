"""How fast `trayd run` stops on SIGTERM / SIGINT, and locks the screen on removal.

Why here and not in tests: the tests only catch gross hangs (tests/rig/timing.py) because
they share two CPUs with other work; the figures the design promises (exit within 1 s of
a signal, lock within 1 s of the token's removal) are measured here, on a quiet machine.

Each round starts a fresh agent (private pcscd, private D-Bus session with the recording
notification and screensaver services, `on_removal = "lock"`), inserts and removes a
token (an ePass2003 ATR on vpcd), records when the lock call arrived, then sends the
signal and waits for the exit. `--quick` runs fewer rounds.
"""
from __future__ import annotations

import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from rig.agent_process import AgentProcess  # noqa: E402
from rig.fixtures_dbus import DbusSession, RecordingService  # noqa: E402
from rig.pcscd import PrivatePcscd  # noqa: E402
from rig.ports import free_port_pair  # noqa: E402
from rig.vpcd import VirtualCard, VpcdLink  # noqa: E402

EPASS_ATR = bytes.fromhex("3B9F958131FE9F006646530500000071DF000000000000")


class EPassShell(VirtualCard):
    atr = EPASS_ATR


def _env(work: Path, pcscd: PrivatePcscd, bus: DbusSession) -> dict[str, str]:
    home = work / "home"
    for sub in (".config/trayd", ".cache", ".local/state", ".local/share", "run"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(home / "run", 0o700)
    (home / ".config/trayd/config.toml").write_text('on_removal = "lock"\n')
    env = {**os.environ, **bus.env, **pcscd.env, "HOME": str(home),
           "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache"),
           "XDG_STATE_HOME": str(home / ".local/state"),
           "XDG_DATA_HOME": str(home / ".local/share"), "XDG_RUNTIME_DIR": str(home / "run"),
           "TRAYD_LANGUAGE": "en", "PYTHONPATH": str(ROOT)}
    env.pop("DISPLAY", None)
    return env


def _row(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"{name:<28} n={len(ms):<3} p50 {statistics.median(ms):7.1f} ms   "
            f"max {max(ms):7.1f} ms   (target < 1000 ms)")


def main(argv: list[str]) -> int:
    rounds = 3 if "--quick" in argv else 10
    work = Path(tempfile.mkdtemp(prefix="trayd-bench-stop-"))
    pcscd = PrivatePcscd(work / "pcscd", free_port_pair())
    os.environ.update(pcscd.env)
    pcscd.start()
    bus = DbusSession(work / "dbus")
    bus.start()
    notes = RecordingService(bus, notifications=True)
    notes.start()
    saver = RecordingService(bus, screensaver=True)
    saver.start()
    env = _env(work, pcscd, bus)
    stops: dict[str, list[float]] = {"SIGTERM": [], "SIGINT": []}
    locks: list[float] = []
    try:
        for i in range(rounds):
            for sig in (signal.SIGTERM, signal.SIGINT):
                agent = AgentProcess(env, work / f"agent-{i}-{sig.name}.log", "run", "--no-tray")
                agent.start()
                link = VpcdLink(EPassShell(), pcscd.port(0))
                link.insert()
                time.sleep(0.3)
                n = len(saver.locks)
                t_removed = time.monotonic()
                link.remove()
                got = saver.wait_for(n + 1, kind="lock", timeout=10)
                locks.append(got[-1]["time"] - t_removed)
                time.sleep(0.3)
                rc, elapsed = agent.stop(sig)
                if rc != 0:
                    print(f"agent exited {rc}:\n{agent.log_text()[-2000:]}", file=sys.stderr)
                    return 1
                stops[sig.name].append(elapsed)
    finally:
        saver.stop()
        notes.stop()
        bus.stop()
        pcscd.stop()
    for name, values in stops.items():
        print(_row(f"exit after {name}", values))
    print(_row("screen lock after removal", locks))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
