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
running. Calls are asynchronous (`done` callbacks on the default main context, the
agent's loop); instances are not thread-safe: only the loop uses them.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from trayd.platform import gdbus

log = logging.getLogger(__name__)

BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
INTERFACE = BUS_NAME
NOTIFY_SIGNATURE = "susssasa{sv}i"
CALL_TIMEOUT = 5.0  # seconds; a hung server's notices give up after this, not D-Bus's 25 s


ActionCallback = Callable[[int, str], None]


class Notifier(Protocol):
    """Asynchronous: calls return at once, `done` gets the outcome on the agent's loop."""

    def warm_up(self, done: Callable[[bool], None] = ...) -> None: ...

    def notify(self, summary: str, body: str = "", *, icon: str = "", timeout_ms: int = -1,
               replaces_id: int = 0, hints: dict[str, Any] | None = None,
               actions: Sequence[tuple[str, str]] = (),
               done: Callable[[int | None], None] = ...) -> None: ...

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
    """`Notify` on a private GDBus connection, asynchronously on the agent's loop.

    Every call returns at once; `done` gets the result on the loop (the default main
    context) when the server answered, failed or CALL_TIMEOUT passed, so a hung server
    never holds the loop."""

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

    def _connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    def _call(self, method: str, args: Any, reply: str,
              done: Callable[[Any, BaseException | None], None]) -> None:
        """`method` on the server; `done(value, None)` or `done(None, error)`."""
        from gi.repository import Gio, GLib

        def finished(conn: Any, result: Any) -> None:
            try:
                value = conn.call_finish(result).unpack()
            except Exception as exc:  # noqa: BLE001 - GLib.Error, closed connection
                done(None, exc)
                return
            done(value, None)

        self._conn.call(BUS_NAME, OBJECT_PATH, INTERFACE, method, args,
                        GLib.VariantType(reply), Gio.DBusCallFlags.NONE,
                        int(CALL_TIMEOUT * 1000), None, finished)

    def _connect(self, done: Callable[[bool], None]) -> None:
        """Open the connection, subscribe to ActionInvoked, ask who the server is."""
        def opened(conn: Any, error: BaseException | None) -> None:
            if error is not None:
                self._conn = None
                self._trouble("connect", error)
                done(False)
                return
            self._conn = conn
            # Signals are dispatched in the main context of the subscribing thread: the
            # default one, the agent's loop.
            self._subscription = self._conn.signal_subscribe(
                BUS_NAME, INTERFACE, "ActionInvoked", OBJECT_PATH, None, 0, self._on_signal)
            self._call("GetServerInformation", None, "(ssss)", got_server)

        def got_server(value: Any, error: BaseException | None) -> None:
            if error is not None:
                self.server, self.capabilities = None, ()
                self._trouble("no server", error)
                done(False)
                return
            self.server = tuple(str(x) for x in value)
            self._call("GetCapabilities", None, "(as)", got_capabilities)

        def got_capabilities(value: Any, error: BaseException | None) -> None:
            self.capabilities = tuple(value[0]) if error is None else ()
            log.debug("notification server: %s (%s)", " ".join(self.server or ()),
                      ", ".join(self.capabilities))
            done(True)

        gdbus.connect(opened, self.address)

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

    def warm_up(self, done: Callable[[bool], None] = lambda ok: None) -> None:
        """Connect and find the server now, so the first real notification is fast."""
        self._connect(done)

    def notify(self, summary: str, body: str = "", *, icon: str = "", timeout_ms: int = -1,
               replaces_id: int = 0, hints: dict[str, Any] | None = None,
               actions: Sequence[tuple[str, str]] = (),
               done: Callable[[int | None], None] = lambda nid: None) -> None:
        """Send one notification; `done(id)`, or `done(None)` if it could not go out."""
        from gi.repository import GLib

        hint_values = {"desktop-entry": GLib.Variant("s", self.desktop_entry)}
        for key, value in (hints or {}).items():
            hint_values[key] = _hint(key, value)
        flat = [part for pair in actions for part in pair]
        args = GLib.Variant(f"({NOTIFY_SIGNATURE})", (
            self.app_name, replaces_id, icon, summary, body, flat, hint_values, timeout_ms))

        def send(attempt: int) -> None:
            self._call("Notify", args, "(u)", lambda value, error: sent(attempt, value, error))

        def sent(attempt: int, value: Any, error: BaseException | None) -> None:
            if error is not None:
                if attempt == 1 and self._conn is not None and self._conn.is_closed():
                    self._conn = None  # the bus itself went away: reconnect once
                    connect_then(2)
                    return
                self.server = None
                self._trouble("Notify", error)
                done(None)
                return
            if self._failing:
                self._failing = False
                log.info("desktop notifications work again")
            done(int(value[0]))

        def connect_then(attempt: int) -> None:
            self._connect(lambda ok: send(attempt) if ok else done(None))

        if self._connected() and self.server is not None:
            send(1)
        else:
            connect_then(1)

    def close(self) -> None:
        if self._conn is not None:
            try:
                if self._subscription:
                    self._conn.signal_unsubscribe(self._subscription)
            except Exception:  # noqa: BLE001 - the connection is already gone
                pass
            gdbus.close(self._conn, wait=True)  # the loop has ended: close now
        self._conn = None
        self._subscription = 0


class PlyerNotifier:
    """Fallback without PyGObject: plyer's facade (notify-send; no ids, no updates)."""

    def __init__(self, app_name: str = "trayd") -> None:
        self.app_name = app_name
        self._failing = False

    def warm_up(self, done: Callable[[bool], None] = lambda ok: None) -> None:
        done(True)

    def notify(self, summary: str, body: str = "", *, icon: str = "", timeout_ms: int = -1,
               replaces_id: int = 0, hints: dict[str, Any] | None = None,
               actions: Sequence[tuple[str, str]] = (),
               done: Callable[[int | None], None] = lambda nid: None) -> None:
        """Synchronous (plyer has no other way): notify-send is quick, and this fallback
        only exists where PyGObject, and so the agent's own loop, is missing."""
        try:
            from plyer import notification

            notification.notify(title=summary, message=body, app_name=self.app_name,
                                app_icon=icon, timeout=max(0, timeout_ms) // 1000)
        except Exception as exc:  # noqa: BLE001
            if not self._failing:
                self._failing = True
                log.warning("desktop notifications unavailable: %s", exc)
        done(None)

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
