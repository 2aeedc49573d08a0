"""The USB floor: a bare SCardGetStatusChange waiter that follows readers coming and going.

Like raw_waiter.py (one Notify per transition, nothing else), but a USB token is a reader
that appears with its card in and vanishes with it, so this one also watches pcsc-lite's
"\\\\?PnP?\\Notification" pseudo-reader and re-lists readers when it fires. Run in the
USB VM guest by benchmarks/bench_usb.py. Prints "ready" when blocked in its first wait.
"""
from __future__ import annotations

import os
import sys

import dbus
import dbus.bus
from smartcard import scard

PNP = "\\\\?PnP?\\Notification"
PRESENT = scard.SCARD_STATE_PRESENT
CHANGED = scard.SCARD_STATE_CHANGED
GONE = scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_IGNORE


def main() -> int:
    bus = dbus.bus.BusConnection(os.environ["DBUS_SESSION_BUS_ADDRESS"])
    notify = bus.get_object("org.freedesktop.Notifications", "/org/freedesktop/Notifications",
                            introspect=False).get_dbus_method(
        "Notify", "org.freedesktop.Notifications")

    def tell(summary: str, reader: str) -> None:
        notify("raw", dbus.UInt32(0), "", summary, reader, dbus.Array([], signature="s"),
               dbus.Dictionary({}, signature="sv"), dbus.Int32(-1),
               signature="susssasa{sv}i", timeout=5)

    rc, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert rc == 0, rc
    present: dict[str, bool] = {}
    states: dict[str, int] = {}
    pnp_state = scard.SCARD_STATE_UNAWARE
    first = True

    def rescan() -> None:
        rc, readers = scard.SCardListReaders(ctx, [])
        readers = readers if rc == 0 else []
        for gone in [r for r in states if r not in readers]:
            states.pop(gone)
            if present.pop(gone, False):
                tell("removed", gone)
        new = [r for r in readers if r not in states]
        if new:
            rc, got = scard.SCardGetStatusChange(ctx, 0, [(r, scard.SCARD_STATE_UNAWARE)
                                                          for r in new])
            for r, s, _atr in got if rc == 0 else []:
                states[r] = s & ~CHANGED
                present[r] = bool(s & PRESENT)
                if present[r] and not first:
                    tell("inserted", r)

    rescan()
    first = False
    print("ready", flush=True)
    while True:
        watch = [(PNP, pnp_state)] + [(r, s) for r, s in states.items()]
        rc, got = scard.SCardGetStatusChange(ctx, scard.INFINITE, watch)
        if rc != 0:
            continue
        pnp_changed = bool(got[0][1] & CHANGED)
        pnp_state = got[0][1] & ~CHANGED
        for r, s, _atr in got[1:]:
            if r not in states:
                continue
            states[r] = s & ~CHANGED
            now = bool(s & PRESENT) and not s & GONE
            if now != present.get(r, False):
                present[r] = now
                tell("inserted" if now else "removed", r)
        if pnp_changed:
            rescan()


if __name__ == "__main__":
    sys.exit(main())
