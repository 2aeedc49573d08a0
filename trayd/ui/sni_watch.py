"""Make libayatana register the tray icon again with a watcher that was not ready.

Why: libayatana-appindicator (0.5.x) follows the StatusNotifierWatcher's bus name
(`notify::g-name-owner` on its watcher proxy) and calls RegisterStatusNotifierItem the
moment a watcher *owns the name*. A watcher that takes its name before exporting its
object (status-notifier-watcher does; any watcher may) answers UnknownObject; libayatana
then logs "Unable to connect to the Notification Watcher", keeps its XEmbed fallback and
never tries again. That happens on real desktops too, when the panel starts after trayd
at login: the icon stays missing from the panel until trayd restarts.

What this does: it watches the same name on the same shared session connection. When a
watcher appears, it reads the watcher's RegisteredStatusNotifierItems (a few short
bounded retries on the GLib loop until the object answers; nothing runs while idle), and
if our item (this connection's unique name) is not listed, it makes libayatana run its
own connect step again: setting the GObject property `icon-desc` (to its current value)
calls libayatana's check_connect(), which re-sends RegisterStatusNotifierItem through
its proxy; on success libayatana drops the XEmbed fallback itself (register_service_cb
→ unfallback). Calling RegisterStatusNotifierItem ourselves would register the item but
leave libayatana's XEmbed icon in the system tray as well.
"""
from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

WATCHER_NAME = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"  # libayatana's NOTIFICATION_WATCHER_DBUS_OBJ
RETRY_MS = 100          # while the watcher's object does not answer yet
READY_TRIES = 50        # ~5 s for a watcher to export its object
SETTLE_MS = 300         # lets a registration libayatana has in flight be answered
MAX_REREGISTER = 3      # re-registrations per appearance of a watcher


class WatcherFollower:
    """Re-registers `indicator` (an AppIndicator3.Indicator) with each new watcher that
    does not list it. Callbacks run on the thread-default GLib context of the creator
    (the tray's loop)."""

    def __init__(self, indicator: Any) -> None:
        from gi.repository import Gio

        self._indicator = indicator
        # The shared session connection: the one libayatana registers from.
        self._conn = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        self._generation = 0
        self._watch = Gio.bus_watch_name_on_connection(
            self._conn, WATCHER_NAME, Gio.BusNameWatcherFlags.NONE,
            self._appeared, self._vanished)

    def close(self) -> None:
        from gi.repository import Gio

        self._generation += 1
        if self._watch:
            Gio.bus_unwatch_name(self._watch)
            self._watch = 0

    def _appeared(self, _conn: Any, _name: str, owner: str) -> None:
        self._generation += 1
        log.debug("tray: StatusNotifierWatcher %s appeared", owner)
        self._check(self._generation, owner, tries=0, seen_missing=0, reregistered=0)

    def _vanished(self, _conn: Any, _name: str) -> None:
        self._generation += 1  # ends any pending check

    def _check(self, gen: int, owner: str, tries: int, seen_missing: int,
               reregistered: int) -> None:
        from gi.repository import Gio, GLib

        def later(ms: int, **kw: int) -> None:
            args = dict(tries=tries, seen_missing=seen_missing, reregistered=reregistered)
            args.update(kw)
            GLib.timeout_add(ms, lambda: (self._check(gen, owner, **args), False)[1])

        def done(conn: Any, result: Any) -> None:
            if gen != self._generation:
                return
            try:
                items = conn.call_finish(result).unpack()[0]
            except GLib.Error as exc:  # not exported yet (UnknownObject/UnknownMethod…)
                if tries + 1 < READY_TRIES:
                    later(RETRY_MS, tries=tries + 1)
                else:
                    log.warning("tray: StatusNotifierWatcher %s never answered: %s",
                                owner, exc.message)
                return
            if self._listed(items):
                log.debug("tray: item registered with watcher %s", owner)
                return
            if not seen_missing:
                later(SETTLE_MS, seen_missing=1)
            elif reregistered < MAX_REREGISTER and self._indicator.get_property("connected"):
                log.info("tray: StatusNotifierWatcher %s does not list the icon; "
                         "registering it again", owner)
                desc = self._indicator.get_property("icon-desc")
                self._indicator.set_property("icon-desc", desc)  # → check_connect()
                later(SETTLE_MS, reregistered=reregistered + 1)

        self._conn.call(owner, WATCHER_PATH, "org.freedesktop.DBus.Properties", "Get",
                        GLib.Variant("(ss)", (WATCHER_NAME, "RegisteredStatusNotifierItems")),
                        GLib.VariantType("(v)"), Gio.DBusCallFlags.NONE, 1000, None, done)

    def _listed(self, items: list[str]) -> bool:
        """Watchers list an item as "<unique name><path>" or by its unique name."""
        me = self._conn.get_unique_name()
        return any(i == me or i.startswith(me + "/") for i in items)
