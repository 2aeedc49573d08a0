"""Desktop notifications over `org.freedesktop.Notifications` (the session bus).

Why dbus-python directly (plyer's D-Bus path, kept warm): plyer 2.1's `NotifyDbus`
makes exactly this `Notify` call through dbus-python, but its facade rebuilds the proxy
(with a blocking Introspect round trip) on every call and throws away the notification
id. trayd makes the same call on one private connection opened at start (warm-up: the
first call of a process otherwise costs ~20 ms), with an explicit signature (so a server
with odd introspection data still works) and keeps the returned id, which lets the
insert notification be updated in place (`replaces_id`) once the token's label and
serial are known. Without dbus-python we fall back to plyer's facade (notify-send).

A missing or broken notification server is logged once per outage; the agent keeps
running. Instances are not thread-safe: the agent calls them from one worker thread.
"""
from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger(__name__)

BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
INTERFACE = BUS_NAME
NOTIFY_SIGNATURE = "susssasa{sv}i"
CALL_TIMEOUT = 5.0  # seconds; a hung server must not hold the worker for D-Bus's 25 s


def session_bus():
    """A new private connection to the session bus named by the environment *now*.

    Why not `dbus.SessionBus()`: libdbus caches the session bus address for the life of
    the process, so a process whose DBUS_SESSION_BUS_ADDRESS changed (tests, a re-login
    of a long-lived agent) would keep dialling a dead bus.
    """
    import os

    import dbus
    import dbus.bus

    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    if address:
        return dbus.bus.BusConnection(address)
    return dbus.SessionBus(private=True)


class Notifier(Protocol):
    def warm_up(self) -> bool: ...

    def notify(self, summary: str, body: str = "", *, icon: str = "", timeout_ms: int = -1,
               replaces_id: int = 0, hints: dict[str, Any] | None = None) -> int | None: ...

    def close(self) -> None: ...


class DbusNotifier:
    """`Notify` on a private session-bus connection; returns the server's id or None."""

    def __init__(self, app_name: str = "trayd", desktop_entry: str = "trayd") -> None:
        self.app_name = app_name
        self.desktop_entry = desktop_entry
        self._bus = None
        self._method = None
        self._failing = False  # logged the current outage already
        self.server: tuple[str, ...] | None = None  # GetServerInformation, once known

    def _connect(self) -> None:
        import dbus

        if self._bus is None:
            self._bus = session_bus()
        proxy = self._bus.get_object(BUS_NAME, OBJECT_PATH, introspect=False)
        self._method = proxy.get_dbus_method("Notify", INTERFACE)
        try:
            info = proxy.get_dbus_method("GetServerInformation", INTERFACE)(timeout=CALL_TIMEOUT)
            self.server = tuple(str(x) for x in info)
        except dbus.DBusException:
            self.server = None

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
            self._method = None
            self._trouble("connect", exc)
            return False
        if self.server is None:
            self._trouble("no server", RuntimeError(f"{BUS_NAME} did not answer"))
            return False
        log.debug("notification server: %s", " ".join(self.server))
        return True

    def notify(self, summary: str, body: str = "", *, icon: str = "", timeout_ms: int = -1,
               replaces_id: int = 0, hints: dict[str, Any] | None = None) -> int | None:
        import dbus

        hint_values: dict[str, Any] = {"desktop-entry": dbus.String(self.desktop_entry)}
        for key, value in (hints or {}).items():
            if isinstance(value, bool):
                hint_values[key] = dbus.Boolean(value)
            elif key == "urgency":
                hint_values[key] = dbus.Byte(int(value))
            elif isinstance(value, int):
                hint_values[key] = dbus.Int32(value)
            else:
                hint_values[key] = dbus.String(str(value))
        args = (self.app_name, dbus.UInt32(replaces_id), icon, summary, body,
                dbus.Array([], signature="s"), dbus.Dictionary(hint_values, signature="sv"),
                dbus.Int32(timeout_ms))
        for attempt in (1, 2):
            try:
                if self._method is None:
                    self._connect()
                nid = self._method(*args, signature=NOTIFY_SIGNATURE, timeout=CALL_TIMEOUT)
            except Exception as exc:  # noqa: BLE001
                self._method = None
                if attempt == 1 and self._bus is not None and not getattr(
                        self._bus, "get_is_connected", lambda: True)():
                    self._bus = None  # the bus itself went away: reconnect once
                    continue
                self._trouble("Notify", exc)
                return None
            if self._failing:
                self._failing = False
                log.info("desktop notifications work again")
            return int(nid)
        return None

    def close(self) -> None:
        if self._bus is not None:
            try:
                self._bus.close()
            except Exception:  # noqa: BLE001
                pass
        self._bus = self._method = None


class PlyerNotifier:
    """Fallback without dbus-python: plyer's facade (notify-send; no ids, no updates)."""

    def __init__(self, app_name: str = "trayd") -> None:
        self.app_name = app_name
        self._failing = False

    def warm_up(self) -> bool:
        return True

    def notify(self, summary: str, body: str = "", *, icon: str = "", timeout_ms: int = -1,
               replaces_id: int = 0, hints: dict[str, Any] | None = None) -> int | None:
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
        import dbus  # noqa: F401
    except ImportError as exc:
        log.info("dbus-python missing (%s); notifications go through plyer/notify-send", exc)
        return PlyerNotifier(app_name)
    return DbusNotifier(app_name)
