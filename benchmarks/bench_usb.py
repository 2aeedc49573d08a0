"""USB plug → notification, in the USB VM: trayd vs a raw SCardGetStatusChange waiter.

Both run in the same guest at the same time (tests/rig/usbvm.py; TCG here, so absolute
figures are those of an emulated CPU) and send their Notify to the guest's one recording
notification server; the emulator's token is plugged and pulled through the host bridge
(a real USB arrival for the guest: xHCI, udev, libccid, pcscd). Per transition:
- host plug/pull → Notify in the guest, measured on the host (bridge event → the
  notification's arrival over the control channel), for the raw waiter and for trayd;
- trayd − raw in the guest's own clock (both Notify calls are stamped by one server):
  what trayd adds over the floor on a real USB path.
Transitions are paced PACE s apart (slower than trayd's burst rule). `--quick` = 4 rounds.
"""
from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from rig.ports import free_port_pair  # noqa: E402
from rig.usbvm import UsbVm  # noqa: E402
from rig.vpcd import VirtualCard, VpcdLink  # noqa: E402

EPASS_ATR = bytes.fromhex("3B9F958131FE9F006646530500000071DF000000000000")
PACE = 1.0
TIMEOUT = 120.0
TRAYD = {"inserted": "トークンが挿入されました。", "removed": "トークンが外されました。"}


class EPass(VirtualCard):
    atr = EPASS_ATR


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))]


def wait_both(vm: UsbVm, kind: str, after: float) -> tuple[dict, dict]:
    """The raw waiter's and trayd's first new Notify for this transition."""
    def found(evs: list[dict]):
        new = [e for e in evs if e["event"] == "notify" and e["host_t"] >= after
               and not e["replaces_id"]]
        raw = next((e for e in new if e["app"] == "raw" and e["summary"] == kind), None)
        ours = next((e for e in new if e["app"] == "trayd" and e["summary"] == TRAYD[kind]),
                    None)
        return (raw, ours) if raw and ours else None
    return vm.channel.wait_event(found, TIMEOUT, f"both {kind} notifications")


def main(argv: list[str]) -> int:
    rounds = 4 if "--quick" in argv else 15
    json_out = next((a.split("=", 1)[1] for a in argv if a.startswith("--json=")), None)
    work = Path(tempfile.mkdtemp(prefix="trayd-bench-usb-"))
    vm = UsbVm(work / "vm", free_port_pair(), out=work)
    rows: dict[str, list[tuple[float, float, float]]] = {"inserted": [], "removed": []}
    try:
        vm.start()
        print(f"guest up in {vm.boot_seconds:.1f} s (accel {vm.accel})", flush=True)
        waiter = vm.channel.call("spawn", argv=[f"{ROOT}/.venv/bin/python",
                                                f"{ROOT}/benchmarks/raw_usb_waiter.py"])
        vm.channel.wait_event(lambda evs: any(e["event"] == "line" and e["line"] == "ready"
                                              and e["pid"] == waiter["pid"] for e in evs),
                              TIMEOUT, "the raw waiter")
        link = VpcdLink(EPass(), vm.port)
        for _ in range(rounds):
            for kind in ("inserted", "removed"):
                time.sleep(PACE)
                t0 = time.monotonic()
                if kind == "inserted":
                    link.insert(wait_seen=False)
                else:
                    link.remove()
                raw, ours = wait_both(vm, kind, t0)
                rows[kind].append((raw["host_t"] - t0, ours["host_t"] - t0,
                                   ours["time"] - raw["time"]))
        vm.channel.call("kill", pid=waiter["pid"])
    finally:
        vm.stop()
    print(f"\nUSB plug/pull -> Notify in the guest ({rounds} rounds, paced {PACE} s, "
          f"{vm.accel.upper()}, boot {vm.boot_seconds:.1f} s)")
    print(f"{'transition':<11}{'what':<26}{'p50 ms':>9}{'p90 ms':>9}{'max ms':>9}")
    results = {"accel": vm.accel, "boot_s": vm.boot_seconds, "rounds": rounds}
    for kind, data in rows.items():
        for i, label in enumerate(("host -> raw waiter Notify", "host -> trayd Notify",
                                   "trayd - raw (guest clock)")):
            ms = [d[i] * 1000 for d in data]
            key = f"{kind}:{label}"
            results[key] = {"p50_ms": statistics.median(ms), "p90_ms": pct(ms, 0.9),
                            "max_ms": max(ms)}
            print(f"{kind:<11}{label:<26}{statistics.median(ms):>9.1f}{pct(ms, 0.9):>9.1f}"
                  f"{max(ms):>9.1f}")
    if json_out:
        Path(json_out).write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
