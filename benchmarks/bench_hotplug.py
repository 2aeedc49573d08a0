"""Hotplug latency and idle cost: raw waiter (floor) vs opensc-notify vs trayd.

What is measured, on the same scripted insert/remove events (vpcd card on a private
pcscd, private D-Bus session, recording notification server):
- latency: from the PC/SC event — the moment a reference SCardGetStatusChange waiter in
  this process wakes up — to the Notify call arriving at the notification server
  (time.monotonic() on both sides; CLOCK_MONOTONIC is system-wide);
- idle cost over IDLE seconds with all three running and no events: context switches
  of every thread (/proc/PID/task/*/status) and CPU ticks (utime + stime);
- peak RSS (VmHWM) after the latency run.

Each contestant runs alone during its latency run (2 CPUs, no competition). Events are
paced 0.7 s apart, slower than trayd's burst rule (> 5 in 2 s), so every transition is
one notification for everybody. `--quick` runs fewer rounds and a short idle window.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from rig.fixtures_dbus import DbusSession, RecordingService  # noqa: E402
from rig.pcscd import PrivatePcscd  # noqa: E402
from rig.ports import free_port_pair  # noqa: E402
from rig.procs import stop_process  # noqa: E402
from rig.vpcd import VirtualCard, VpcdLink  # noqa: E402

EPASS_ATR = bytes.fromhex("3B9F958131FE9F006646530500000071DF000000000000")
PACE = 0.7


class EPass(VirtualCard):
    atr = EPASS_ATR


# ---------------------------------------------------------------- reference waiter
class ReferenceWaiter:
    """Records when PC/SC reports each presence change (the t0 of every event).

    A child process of its own (the same loop as the floor, without D-Bus): in this
    process the vpcd card and the notification-record reader threads would hold the GIL
    and make t0 late.
    """

    CODE = r"""
import sys, time
from smartcard import scard
rc, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
rc, readers = scard.SCardListReaders(ctx, [])
rc, states = scard.SCardGetStatusChange(ctx, 0, [(r, scard.SCARD_STATE_UNAWARE) for r in readers])
print("ready", flush=True)
P = scard.SCARD_STATE_PRESENT
while True:
    rc, new = scard.SCardGetStatusChange(
        ctx, scard.INFINITE, [(r, s & ~scard.SCARD_STATE_CHANGED) for r, s, _a in states])
    now = time.monotonic()
    if rc != 0:
        sys.exit(0)
    for (r, old, _a), (_r, s, _atr) in zip(states, new):
        if (old & P) != (s & P):
            print(f"{now!r}\t{r}\t{int(bool(s & P))}", flush=True)
    states = new
"""

    def __init__(self, env: dict) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", self.CODE], env=env,
                                     stdout=subprocess.PIPE, text=True,
                                     stdin=subprocess.DEVNULL)
        assert self.proc.stdout and self.proc.stdout.readline().strip() == "ready"
        self.events: list[tuple[float, str, bool]] = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout
        for line in self.proc.stdout:
            t, reader, present = line.rstrip("\n").split("\t")
            with self.cond:
                self.events.append((float(t), reader, present == "1"))
                self.cond.notify_all()

    def wait_count(self, n: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.events) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"reference waiter saw {len(self.events)} of {n}")
                self.cond.wait(left)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)
        self.thread.join(2)


# ---------------------------------------------------------------- /proc accounting
def proc_counters(pid: int) -> dict:
    """Context switches per thread and CPU ticks of the whole process."""
    switches: dict[str, int] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            text = Path(f"/proc/{pid}/task/{tid}/status").read_text()
        except OSError:
            continue
        vol = nonvol = 0
        for line in text.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                vol = int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                nonvol = int(line.split()[1])
        try:
            comm = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
        except OSError:
            comm = "?"
        switches[f"{comm}/{tid}"] = vol + nonvol
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    return {"switches": switches, "ticks": ticks}


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


# ---------------------------------------------------------------- contestants
@dataclass
class Contestant:
    name: str
    cmd: list[str]
    ready_marker: str  # text in its output once it waits on PC/SC
    matches: tuple[str, ...]  # Notify summaries that count as its hotplug notifications
    proc: subprocess.Popen | None = None
    log: Path | None = None
    delays: list[float] = field(default_factory=list)
    missed: int = 0
    extra: int = 0
    rss_kib: int = 0

    def start(self, env: dict, workdir: Path, timeout: float = 30.0) -> None:
        self.log = workdir / f"{self.name}.log"
        out = open(self.log, "wb")
        self.proc = subprocess.Popen(self.cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        out.close()
        deadline = time.monotonic() + timeout
        while self.ready_marker not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.05)
        time.sleep(0.5)  # let it block in its first wait

    def stop(self) -> None:
        stop_process(self.proc)


def contestants(have_opensc: bool) -> list[Contestant]:
    py = sys.executable
    found = [Contestant("raw waiter (floor)", [py, str(ROOT / "benchmarks" / "raw_waiter.py")],
                        "ready", ("inserted", "removed"))]
    if have_opensc:
        # opensc-notify has no "ready" output; it is up once its context exists.
        found.append(Contestant("opensc-notify", ["sh", "-c", "echo started; exec opensc-notify"],
                                "started", ("Smart card detected", "Smart card removed")))
    found.append(Contestant("trayd run --no-tray", [py, "-m", "trayd", "run", "--no-tray"],
                            "PC/SC monitor watching",
                            ("トークンが挿入されました。", "トークンが外されました。")))
    return found


def run_events(c: Contestant, ref: ReferenceWaiter, server: RecordingService, port: int,
               rounds: int) -> None:
    server.clear()
    base = len(ref.events)
    link = VpcdLink(EPass(), port)
    for _ in range(rounds):
        link.insert()
        time.sleep(PACE)
        link.remove()
        time.sleep(PACE)
    n = 2 * rounds
    ref.wait_count(base + n)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        got = [x for x in server.notifications if x["summary"] in c.matches]
        if len(got) >= n:
            break
        time.sleep(0.05)
    time.sleep(0.3)
    got = [x for x in server.notifications if x["summary"] in c.matches]
    events = ref.events[base:base + n]
    c.missed = max(0, n - len(got))
    c.extra = max(0, len(got) - n)
    # Match in order, checking the direction (inserted/removed) agrees.
    for (t0, _reader, present), note in zip(events, got):
        if (note["summary"] == c.matches[0]) != present:
            raise RuntimeError(f"{c.name}: notifications out of order: {note['summary']}")
        c.delays.append(note["time"] - t0)
    c.rss_kib = peak_rss_kib(c.proc.pid) if c.proc else 0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    rounds = 8 if quick else 25
    idle = 10.0 if quick else 60.0
    json_out = next((a.split("=", 1)[1] for a in argv if a.startswith("--json=")), None)
    work = Path(tempfile.mkdtemp(prefix="trayd-bench-"))
    home = work / "home"
    for sub in (".config", ".cache", ".local/state", ".local/share", "run"):
        (home / sub).mkdir(parents=True)
    os.chmod(home / "run", 0o700)
    pcscd = PrivatePcscd(work / "pcscd", free_port_pair())
    os.environ.update(pcscd.env)
    pcscd.start()
    bus = DbusSession(work / "dbus")
    bus.start()
    server = RecordingService(bus, notifications=True)
    server.start()
    env = {**os.environ, **bus.env, **pcscd.env, "HOME": str(home),
           "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache"),
           "XDG_STATE_HOME": str(home / ".local/state"),
           "XDG_DATA_HOME": str(home / ".local/share"), "XDG_RUNTIME_DIR": str(home / "run"),
           "TRAYD_LANGUAGE": "ja", "PYTHONPATH": str(ROOT)}
    env.pop("DISPLAY", None)
    ref = ReferenceWaiter(env)
    have_opensc = shutil.which("opensc-notify") is not None
    runners = contestants(have_opensc)
    try:
        # 1. Latency, one contestant at a time.
        for c in runners:
            c.start(env, work)
            try:
                run_events(c, ref, server, pcscd.port(0), rounds)
            finally:
                c.stop()
        # 2. Idle cost, all together, no events.
        for c in runners:
            c.delays_saved = c.delays  # type: ignore[attr-defined]
            c.start(env, work)
        time.sleep(2.0)
        before = {c.name: proc_counters(c.proc.pid) for c in runners}
        time.sleep(idle)
        after = {c.name: proc_counters(c.proc.pid) for c in runners}
        for c in runners:
            c.stop()
    finally:
        for c in runners:
            c.stop()
        ref.close()
        server.stop()
        bus.stop()
        pcscd.stop()

    results = []
    print(f"\nHotplug latency: PC/SC event -> Notify at the server ({2 * rounds} events each, "
          f"paced {PACE} s)")
    print(f"{'contestant':<22}{'events':>7}{'missed':>7}{'extra':>6}{'p50 ms':>9}"
          f"{'p90 ms':>9}{'max ms':>9}{'peak RSS MiB':>14}")
    for c in runners:
        d = [x * 1000 for x in c.delays]
        row = {"name": c.name, "events": len(d), "missed": c.missed, "extra": c.extra,
               "p50_ms": statistics.median(d) if d else None, "p90_ms": pct(d, 0.9),
               "max_ms": max(d) if d else None, "peak_rss_mib": c.rss_kib / 1024}
        results.append(row)
        if "-v" in argv:
            print("   ", c.name, " ".join(f"{x:.1f}" for x in d))
        print(f"{c.name:<22}{len(d):>7}{c.missed:>7}{c.extra:>6}{row['p50_ms']:>9.2f}"
              f"{row['p90_ms']:>9.2f}{row['max_ms']:>9.2f}{row['peak_rss_mib']:>14.1f}")
    print(f"\nIdle cost over {idle:.0f} s (no events; all running)")
    print(f"{'contestant':<22}{'threads':>8}{'ctx switches':>14}{'CPU ticks':>11}  per thread")
    for c in runners:
        b, a = before[c.name], after[c.name]
        per = {tid: a["switches"][tid] - b["switches"].get(tid, 0) for tid in a["switches"]}
        total = sum(per.values())
        ticks = a["ticks"] - b["ticks"]
        row = next(r for r in results if r["name"] == c.name)
        row.update({"threads": len(per), "idle_switches": total, "idle_ticks": ticks,
                    "idle_seconds": idle})
        print(f"{c.name:<22}{len(per):>8}{total:>14}{ticks:>11}  "
              + " ".join(f"{k.split('/')[0]}={v}" for k, v in per.items()))
    trayd = results[-1]
    if trayd["events"] and results[0]["events"]:
        over50 = trayd["p50_ms"] - results[0]["p50_ms"]
        overmax = trayd["max_ms"] - results[0]["max_ms"]
        print(f"\ntrayd over the floor: p50 {over50:+.2f} ms (target <= 2), "
              f"max {overmax:+.2f} ms (target <= 10); idle wake-ups "
              f"{trayd['idle_switches']} (target 0)")
        results.append({"overhead_p50_ms": over50, "overhead_max_ms": overmax})
    if json_out:
        Path(json_out).write_text(json.dumps(results, indent=2, ensure_ascii=False))
    shutil.rmtree(work, ignore_errors=True)
    bad = any(r.get("missed") for r in results if "missed" in r)
    return 1 if bad else 0
