"""Desktop notifications over `org.freedesktop.Notifications` (the session bus).

Why Gio (GDBus) directly: it is trayd's one D-Bus library. One private connection is
opened at start (warm-up: the first call of a process otherwise costs ~20 ms); `Notify`
goes out with an explicit signature (so a server with odd introspection data still
works) and its id is kept, which lets the insert notification be updated in place
(`replaces_id`) once the token's label and serial are known. The same connection
receives `ActionInvoked`: servers send it to the connection that made the notification
(notification-daemon unicasts it), so the listener cannot live on another one. Signals
are dispatched by the GLib main loop that runs where the tray is; without one, actions
are not offered (`actions_available()`). Without GObject introspection we fall back to
plyer's facade (notify-send).

A missing or broken notification server is logged once per outage; the agent keeps
running. Instances are not thread-safe: the agent calls them from one worker thread.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

log = logging.getLogger(__name__)

BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
INTERFACE = BUS_NAME
NOTIFY_SIGNATURE = "susssasa{sv}i"
CALL_TIMEOUT = 5.0  # seconds; a hung server must not hold the worker for D-Bus's 25 s


def session_bus():
    """A new private dbus-python connection to the session bus named by the environment
    *now* (screen lock). libdbus caches the session address per process, so a process
    whose DBUS_SESSION_BUS_ADDRESS changed would keep dialling a dead bus."""
    import os

    import dbus
    import dbus.bus

    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    if address:
        return dbus.bus.BusConnection(address)
    return dbus.SessionBus(private=True)


def gio_session_bus(address: str | None = None) -> Any:
    """A new private GDBus connection to the session bus named by the environment now."""
    import os

    from gi.repository import Gio

    address = address or os.environ.get("DBUS_SESSION_BUS_ADDRESS") or \
        Gio.dbus_address_get_for_bus_sync(Gio.BusType.SESSION, None)
    flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
             | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
    return Gio.DBusConnection.new_for_address_sync(address, flags, None, None)


ActionCallback = Callable[[int, str], None]


class Notifier(Protocol):
    def warm_up(self) -> bool: ...

    def notify(self, summary: str, body: str = "", *, icon: str = "", timeout_ms: int = -1,
               replaces_id: int = 0, hints: dict[str, Any] | None = None,
               actions: Sequence[tuple[str, str]] = ()) -> int | None: ...

    def close(self) -> None: ...


def _hint(key: str, value: Any) -> Any:
    from gi.repository import GLib

    if isinstance(value, bool):
        return GLib.Variant("b", value)
    if key == "urgency":
        return GLib.Variant("y", int(value))
    if isinstance(value, int):
        return GLib.Variant("i", value)
    return GLib.Variant("s", str(value))


class DbusNotifier:
    """`Notify` on a private GDBus connection; returns the server's id or None."""

    def __init__(self, app_name: str = "trayd", desktop_entry: str = "trayd",
                 address: str | None = None) -> None:
        self.app_name = app_name
        self.desktop_entry = desktop_entry
        self.address = address
        self._conn: Any = None
        self._subscription = 0
        self._failing = False  # logged the current outage already
        self.server: tuple[str, ...] | None = None  # GetServerInformation, once known
        self.capabilities: tuple[str, ...] = ()
        self.on_action: ActionCallback | None = None  # (id, action key), on the GLib loop

    def _call(self, method: str, args: Any, reply: str) -> Any:
        from gi.repository import Gio, GLib

        result = self._conn.call_sync(BUS_NAME, OBJECT_PATH, INTERFACE, method, args,
                                      GLib.VariantType(reply), Gio.DBusCallFlags.NONE,
                                      int(CALL_TIMEOUT * 1000), None)
        return result.unpack()

    def _connect(self) -> None:
        from gi.repository import GLib

        if self._conn is None or self._conn.is_closed():
            self._conn = gio_session_bus(self.address)
            # Signals are dispatched in the main context of the thread subscribing: the
            # global default one (the tray's GLib loop), since the worker pushes none.
            self._subscription = self._conn.signal_subscribe(
                BUS_NAME, INTERFACE, "ActionInvoked", OBJECT_PATH, None, 0,
                self._on_signal)
        try:
            self.server = tuple(str(x) for x in self._call("GetServerInformation", None,
                                                           "(ssss)"))
            self.capabilities = tuple(self._call("GetCapabilities", None, "(as)")[0])
        except GLib.Error:
            self.server = None
            self.capabilities = ()

    def _on_signal(self, _conn: Any, _sender: str, _path: str, _iface: str, _name: str,
                   params: Any, *_data: Any) -> None:
        nid, key = params.unpack()
        log.info("notification %d: action %r", nid, key)
        if self.on_action is not None:
            try:
                self.on_action(int(nid), str(key))
            except Exception:  # noqa: BLE001 - a handler bug must not break the loop
                log.exception("notification action %r failed", key)

    def supports_actions(self) -> bool:
        return "actions" in self.capabilities

    def _trouble(self, what: str, exc: BaseException) -> None:
        if not self._failing:
            self._failing = True
            log.warning("desktop notifications unavailable (%s): %s; trayd keeps running "
                        "and retries at the next event", what, exc)
        else:
            log.debug("notification still failing (%s): %s", what, exc)

    def warm_up(self) -> bool:
        """Connect and find the server now, so the first real notification is fast."""
        try:
            self._connect()
        except Exception as exc:  # noqa: BLE001 - no bus, no server: degrade, don't die
            self._conn = None
            self._trouble("connect", exc)
            return False
        if self.server is None:
            self._trouble("no server", RuntimeError(f"{BUS_NAME} did not answer"))
            return False
        log.debug("notification server: %s (%s)", " ".join(self.server),
                  ", ".join(self.capabilities))
        return True

    def notify(self, summary: str, body: str = "", *, icon: str = "", timeout_ms: int = -1,
               replaces_id: int = 0, hints: dict[str, Any] | None = None,
               actions: Sequence[tuple[str, str]] = ()) -> int | None:
        from gi.repository import GLib

        hint_values = {"desktop-entry": GLib.Variant("s", self.desktop_entry)}
        for key, value in (hints or {}).items():
            hint_values[key] = _hint(key, value)
        flat = [part for pair in actions for part in pair]
        for attempt in (1, 2):
            try:
                if self._conn is None or self._conn.is_closed() or self.server is None:
                    self._connect()
                args = GLib.Variant(f"({NOTIFY_SIGNATURE})", (
                    self.app_name, replaces_id, icon, summary, body, flat, hint_values,
                    timeout_ms))
                nid = self._call("Notify", args, "(u)")[0]
            except Exception as exc:  # noqa: BLE001
                if attempt == 1 and self._conn is not None and self._conn.is_closed():
                    self._conn = None  # the bus itself went away: reconnect once
                    continue
                self.server = None
                self._trouble("Notify", exc)
                return None
            if self._failing:
                self._failing = False
                log.info("desktop notifications work again")
            return int(nid)
        return None

    def close(self) -> None:
        if self._conn is not None:
            try:
                if self._subscription:
                    self._conn.signal_unsubscribe(self._subscription)
                self._conn.close_sync(None)
            except Exception:  # noqa: BLE001
                pass
        self._conn = None
        self._subscription = 0


class PlyerNotifier:
    """Fallback without dbus-python: plyer's facade (notify-send; no ids, no updates)."""

    def __init__(self, app_name: str = "trayd") -> None:
        self.app_name = app_name
        self._failing = False

    def warm_up(self) -> bool:
        return True

    def notify(self, summary: str, body: str = "", *, icon: str = "", timeout_ms: int = -1,
               replaces_id: int = 0, hints: dict[str, Any] | None = None,
               actions: Sequence[tuple[str, str]] = ()) -> int | None:
        try:
            from plyer import notification

            notification.notify(title=summary, message=body, app_name=self.app_name,
                                app_icon=icon, timeout=max(0, timeout_ms) // 1000)
        except Exception as exc:  # noqa: BLE001
            if not self._failing:
                self._failing = True
                log.warning("desktop notifications unavailable: %s", exc)
        return None

    def close(self) -> None:
        pass


def create_notifier(app_name: str = "trayd") -> Notifier:
    """The best notifier available here, with the reason logged if it is the fallback."""
    try:
        from gi.repository import Gio  # noqa: F401
    except ImportError as exc:
        log.info("PyGObject missing (%s); notifications go through plyer/notify-send", exc)
        return PlyerNotifier(app_name)
    return DbusNotifier(app_name)
