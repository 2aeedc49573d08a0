"""Private session-bus connections over Gio (GDBus), trayd's one D-Bus library.

Why private connections to the address named *now*: the shared `Gio.bus_get` connection
and libdbus both remember the first session bus of a process, and an agent whose
`DBUS_SESSION_BUS_ADDRESS` changed (a new login, a test's private bus) would keep dialling
a dead one. The notifier and the screen lock open their connection asynchronously on the
calling thread's main context (the agent's loop), `doctor` synchronously.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

BUS_TIMEOUT_MS = 5000


def session_address(address: str | None = None) -> str:
    """`address`, else the session bus named by the environment now, else GIO's default
    (`$XDG_RUNTIME_DIR/bus`). Raises GLib.Error without any."""
    from gi.repository import Gio

    return address or os.environ.get("DBUS_SESSION_BUS_ADDRESS") or \
        Gio.dbus_address_get_for_bus_sync(Gio.BusType.SESSION, None)


def _flags() -> Any:
    from gi.repository import Gio

    return (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)


def connect(done: Callable[[Any, BaseException | None], None],
            address: str | None = None) -> None:
    """Open a private connection; `done(connection, None)` or `done(None, error)` on the
    calling thread's main context."""
    from gi.repository import Gio

    try:
        target = session_address(address)
    except Exception as exc:  # noqa: BLE001 - no session bus at all
        done(None, exc)
        return

    def opened(_source: Any, result: Any) -> None:
        try:
            conn = Gio.DBusConnection.new_for_address_finish(result)
        except Exception as exc:  # noqa: BLE001 - GLib.Error
            done(None, exc)
            return
        done(conn, None)

    Gio.DBusConnection.new_for_address(target, _flags(), None, None, opened)


def connect_sync(address: str | None = None) -> Any:
    """The same connection, opened now (for `doctor`, which has no loop)."""
    from gi.repository import Gio

    return Gio.DBusConnection.new_for_address_sync(session_address(address), _flags(), None,
                                                  None)


def call_sync(conn: Any, name: str, path: str, interface: str, method: str,
              reply: str | None = None, args: Any = None) -> Any:
    """One method call, waiting at most BUS_TIMEOUT_MS; the unpacked reply tuple."""
    from gi.repository import Gio, GLib

    value = conn.call_sync(name, path, interface, method, args,
                           GLib.VariantType(reply) if reply else None,
                           Gio.DBusCallFlags.NONE, BUS_TIMEOUT_MS, None)
    return value.unpack() if value is not None else ()


def close(conn: Any, wait: bool = False) -> None:
    """Close the connection; errors (already gone) are ignored. Without `wait` the flush
    finishes on the main context (the agent's loop); `wait` closes now, for callers whose
    loop has ended or who have none (the notifier at shutdown, `doctor`)."""
    try:
        if conn.is_closed():
            return
        if wait:
            conn.close_sync(None)
        else:
            conn.close(None, None, None)
    except Exception:  # noqa: BLE001 - already gone
        pass
