"""The floor: a bare SCardGetStatusChange waiter that sends one Notify per transition.

No event bus, no policy, no worker thread: PC/SC wake-up → dbus-python Notify on a
connection and method resolved in advance. Whatever trayd adds on top of this is its
overhead. Prints "ready" when it is blocked in its first wait.
"""
from __future__ import annotations

import os
import sys

import dbus
import dbus.bus
from smartcard import scard

PRESENT = scard.SCARD_STATE_PRESENT
CHANGED = scard.SCARD_STATE_CHANGED


def main() -> int:
    bus = dbus.bus.BusConnection(os.environ["DBUS_SESSION_BUS_ADDRESS"])
    notify = bus.get_object("org.freedesktop.Notifications", "/org/freedesktop/Notifications",
                            introspect=False).get_dbus_method(
        "Notify", "org.freedesktop.Notifications")
    rc, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert rc == 0, rc
    rc, readers = scard.SCardListReaders(ctx, [])
    rc, states = scard.SCardGetStatusChange(
        ctx, 0, [(r, scard.SCARD_STATE_UNAWARE) for r in readers])
    print("ready", flush=True)
    while True:
        rc, new = scard.SCardGetStatusChange(
            ctx, scard.INFINITE, [(r, s & ~CHANGED) for r, s, _a in states])
        if rc != 0:
            return 1
        for (r, old, _a), (_r, s, _atr) in zip(states, new):
            if (old & PRESENT) != (s & PRESENT):
                notify("raw", dbus.UInt32(0), "", "inserted" if s & PRESENT else "removed",
                       r, dbus.Array([], signature="s"), dbus.Dictionary({}, signature="sv"),
                       dbus.Int32(-1), signature="susssasa{sv}i", timeout=5)
        states = new


if __name__ == "__main__":
    sys.exit(main())
