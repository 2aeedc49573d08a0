"""Is there anything to show a tray icon? An XEmbed tray or a StatusNotifierWatcher.

Why its own module (in platform/, below the UI): the tray asks once at start-up (to tell
the user when nothing will show the icon) and `trayd doctor` asks the same question; both
must agree, so both use these probes and nothing else asks. The answer is
advisory: libayatana-appindicator itself picks SNI when a watcher has an owner and falls
back to XEmbed after ~100 ms without one, and follows a watcher that comes or goes later.
"""
from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

WATCHER_NAMES = ("org.kde.StatusNotifierWatcher", "org.freedesktop.StatusNotifierWatcher")


def xembed_tray(display: str | None = None) -> bool | None:
    """True when some client owns `_NET_SYSTEM_TRAY_S<screen>` on the X display; None
    when there is no X display to ask."""
    display = display or os.environ.get("DISPLAY")
    if not display:
        return None
    try:
        from Xlib import X
        from Xlib import display as xdisplay

        d = xdisplay.Display(display)
    except Exception as exc:  # noqa: BLE001 - Xlib raises several types for "cannot connect"
        log.debug("tray: no X tray check: %s", exc)
        return None
    try:
        atom = d.intern_atom(f"_NET_SYSTEM_TRAY_S{d.get_default_screen()}")
        owner = d.get_selection_owner(atom)
        return owner not in (X.NONE, 0) and getattr(owner, "id", owner) != 0
    finally:
        d.close()


def sni_watcher() -> str | None:
    """The StatusNotifierWatcher name that has an owner on the session bus, or None."""
    try:
        from gi.repository import Gio, GLib

        bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        for name in WATCHER_NAMES:
            reply = bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                  "org.freedesktop.DBus", "NameHasOwner",
                                  GLib.Variant("(s)", (name,)), GLib.VariantType("(b)"),
                                  Gio.DBusCallFlags.NONE, 1000, None)
            if reply.unpack()[0]:
                return name
    except Exception as exc:  # noqa: BLE001
        log.debug("tray: no StatusNotifierWatcher check: %s", exc)
    return None


def tray_host_present(display: str | None = None) -> tuple[bool, str]:
    """(present, what): what is "xembed", "sni", "xembed+sni" or "none"."""
    found = [kind for kind, ok in (("xembed", xembed_tray(display)), ("sni", sni_watcher()))
             if ok]  # None (no X) counts as no
    return bool(found), "+".join(found) or "none"
