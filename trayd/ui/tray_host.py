"""Is there anything to show a tray icon? An XEmbed tray or a StatusNotifierWatcher.

Why its own module: the tray asks once at start-up (to tell the user when nothing will
show the icon) and `trayd doctor` asks the same question; both must agree. The answer is
advisory: libayatana-appindicator itself picks SNI when a watcher has an owner and falls
back to XEmbed after ~100 ms without one, and follows a watcher that comes or goes later.
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)

WATCHER_NAMES = ("org.kde.StatusNotifierWatcher", "org.freedesktop.StatusNotifierWatcher")


def xembed_tray(display: str | None = None) -> bool:
    """True when some client owns `_NET_SYSTEM_TRAY_S<screen>` on the X display."""
    try:
        from Xlib import X
        from Xlib import display as xdisplay

        d = xdisplay.Display(display)
        try:
            atom = d.intern_atom(f"_NET_SYSTEM_TRAY_S{d.get_default_screen()}")
            owner = d.get_selection_owner(atom)
            return owner not in (X.NONE, 0) and getattr(owner, "id", owner) != 0
        finally:
            d.close()
    except Exception as exc:  # noqa: BLE001 - no X at all is an answer too
        log.debug("tray: no X tray check: %s", exc)
        return False


def sni_watcher() -> bool:
    """True when a StatusNotifierWatcher owns its name on the session bus."""
    try:
        from gi.repository import Gio, GLib

        bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        for name in WATCHER_NAMES:
            reply = bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                  "org.freedesktop.DBus", "NameHasOwner",
                                  GLib.Variant("(s)", (name,)), GLib.VariantType("(b)"),
                                  Gio.DBusCallFlags.NONE, 1000, None)
            if reply.unpack()[0]:
                return True
    except Exception as exc:  # noqa: BLE001
        log.debug("tray: no StatusNotifierWatcher check: %s", exc)
    return False


def tray_host_present(display: str | None = None) -> tuple[bool, str]:
    """(present, what): what is "xembed", "sni", "xembed+sni" or "none"."""
    found = [kind for kind, ok in (("xembed", xembed_tray(display)), ("sni", sni_watcher()))
             if ok]
    return bool(found), "+".join(found) or "none"
