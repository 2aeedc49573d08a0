"""Drive a StatusNotifierItem and its dbusmenu over D-Bus, the way an SNI host does.

Why over D-Bus: an SNI host (KDE's panel, GNOME's AppIndicator extension, waybar,
gtk-sni-tray) knows the item only through these calls, so a test that reads the item's
properties and clicks its menu with `com.canonical.dbusmenu.Event` sees exactly what every
host sees. libayatana exports the item and its menu on the session bus even while it shows
an XEmbed icon (no watcher), so the same helper also drives the tray under trayer.

Also here: `SniDesktop`, the real host stack (`status-notifier-watcher` +
`gtk-sni-tray-standalone`) on a private bus and an Xvfb display.

Gio (PyGObject) only: the project's one D-Bus library.
"""
from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig.procs import stop_process

WATCHER = "org.kde.StatusNotifierWatcher"
ITEM_IFACE = "org.kde.StatusNotifierItem"
MENU_IFACE = "com.canonical.dbusmenu"
ITEM_PATH = "/org/ayatana/NotificationItem/trayd"


def sni_tools_missing() -> list[str]:
    return [t for t in ("status-notifier-watcher", "gtk-sni-tray-standalone")
            if not shutil.which(t)]


def _bus(address: str) -> Any:
    from gi.repository import Gio

    flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
             | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
    return Gio.DBusConnection.new_for_address_sync(address, flags, None, None)


@dataclass
class MenuNode:
    id: int
    label: str
    enabled: bool
    visible: bool
    kind: str  # "standard", "separator"
    toggle: str  # "", "checkmark"
    toggle_state: int
    children: list[MenuNode] = field(default_factory=list)

    def walk(self, depth: int = 0):
        yield depth, self
        for c in self.children:
            yield from c.walk(depth + 1)

    def labels(self) -> list[str]:
        return [n.label for _d, n in self.walk() if n.label]

    def find(self, *path: str) -> MenuNode:
        """The entry reached by labels `path` (each level: exact label)."""
        node = self
        for label in path:
            match = [c for c in node.children if c.label == label]
            if not match:
                raise KeyError(f"no menu entry {label!r} under {node.label!r}: "
                               f"{[c.label for c in node.children]}")
            node = match[0]
        return node


def _node(raw: Any) -> MenuNode:
    ident, props, children = raw
    label = str(props.get("label", "")).replace("_", "", 1) if "label" in props else ""
    return MenuNode(
        id=int(ident), label=label, enabled=bool(props.get("enabled", True)),
        visible=bool(props.get("visible", True)), kind=str(props.get("type", "standard")),
        toggle=str(props.get("toggle-type", "")), toggle_state=int(props.get("toggle-state", -1)),
        children=[_node(c) for c in children])


class SniItem:
    """One StatusNotifierItem (bus name + object path) and its dbusmenu."""

    def __init__(self, address: str, bus_name: str, path: str = ITEM_PATH) -> None:
        self.address = address
        self.conn = _bus(address)
        self.bus_name = bus_name
        self.path = path
        self._updates = 0
        self._cond = threading.Condition()
        self._sub: int | None = None
        self._loop_thread: threading.Thread | None = None

    # -- properties ------------------------------------------------------------------
    def _call(self, path: str, iface: str, method: str, args: Any, reply: str | None,
              timeout_ms: int = 5000) -> Any:
        from gi.repository import Gio, GLib

        result = self.conn.call_sync(self.bus_name, path, iface, method, args,
                                     GLib.VariantType(reply) if reply else None,
                                     Gio.DBusCallFlags.NONE, timeout_ms, None)
        return result.unpack() if result is not None else None

    def props(self) -> dict[str, Any]:
        from gi.repository import GLib

        return self._call(self.path, "org.freedesktop.DBus.Properties", "GetAll",
                          GLib.Variant("(s)", (ITEM_IFACE,)), "(a{sv})")[0]

    def prop(self, name: str) -> Any:
        return self.props().get(name)

    # -- menu ------------------------------------------------------------------------
    @property
    def menu_path(self) -> str:
        return str(self.prop("Menu"))

    def layout(self) -> MenuNode:
        from gi.repository import GLib

        self.about_to_show(0)
        _rev, raw = self._call(self.menu_path, MENU_IFACE, "GetLayout",
                               GLib.Variant("(iias)", (0, -1, [])), "(u(ia{sv}av))")
        return _node(raw)

    def about_to_show(self, ident: int) -> bool:
        from gi.repository import GLib

        return bool(self._call(self.menu_path, MENU_IFACE, "AboutToShow",
                               GLib.Variant("(i)", (ident,)), "(b)")[0])

    def click(self, *path: str) -> MenuNode:
        """Click the entry reached by labels `path` like a host: AboutToShow, Event clicked."""
        from gi.repository import GLib

        root = self.layout()
        node = root
        for label in path:
            self.about_to_show(node.id)
            node = node.find(label)
        if not node.enabled:
            raise AssertionError(f"menu entry {path} is insensitive")
        self._call(self.menu_path, MENU_IFACE, "Event",
                   GLib.Variant("(isvu)", (node.id, "clicked", GLib.Variant("i", 0),
                                           int(time.time()) & 0xFFFFFFFF)), None)
        return node

    # -- signals -------------------------------------------------------------------------
    def watch_layout(self) -> list[tuple[float, int]]:
        """Record every com.canonical.dbusmenu.LayoutUpdated (time.monotonic(), revision)
        from now on, on a helper thread with its own GLib main context; returns the list
        (appended to as signals arrive)."""
        from gi.repository import GLib

        seen: list[tuple[float, int]] = []
        ready = threading.Event()

        def run() -> None:
            ctx = GLib.MainContext.new()
            ctx.push_thread_default()
            conn = _bus(self.address)  # signals are dispatched in the context that connects

            def on_signal(_c, _sender, _path, _iface, _name, params, *_a) -> None:
                seen.append((time.monotonic(), int(params.unpack()[0])))

            conn.signal_subscribe(self.bus_name, MENU_IFACE, "LayoutUpdated", None, None,
                                  0, on_signal)
            tick = GLib.timeout_source_new(200)
            tick.set_callback(lambda *_a: True)
            tick.attach(ctx)
            ready.set()
            while not self._stop_watch.is_set():
                ctx.iteration(True)

        self._stop_watch = threading.Event()
        threading.Thread(target=run, name="sni-layout-watch", daemon=True).start()
        ready.wait(5)
        return seen

    def close(self) -> None:
        """Stop the LayoutUpdated recorder (it wakes every 0.2 s to look)."""
        stop = getattr(self, "_stop_watch", None)
        if stop is not None:
            stop.set()

    def wait(self, pred: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = pred()
            except Exception as exc:  # noqa: BLE001 - the item may be rebuilding its menu
                last = exc
            else:
                if last:
                    return last
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def owner_of_pid(address: str, pid: int, timeout: float = 15.0) -> str:
    """The unique bus name of the connection process `pid` owns that exports the item."""
    from gi.repository import Gio, GLib

    conn = _bus(address)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "ListNames", None,
                               GLib.VariantType("(as)"), Gio.DBusCallFlags.NONE, 2000,
                               None).unpack()[0]
        for name in names:
            if not name.startswith(":"):
                continue
            try:
                owner_pid = conn.call_sync(
                    "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                    "GetConnectionUnixProcessID", GLib.Variant("(s)", (name,)),
                    GLib.VariantType("(u)"), Gio.DBusCallFlags.NONE, 2000, None).unpack()[0]
            except GLib.Error:
                continue
            if owner_pid != pid:
                continue
            try:
                conn.call_sync(name, ITEM_PATH, "org.freedesktop.DBus.Properties", "Get",
                               GLib.Variant("(ss)", (ITEM_IFACE, "Id")), None,
                               Gio.DBusCallFlags.NONE, 2000, None)
                return name
            except GLib.Error:
                continue
        time.sleep(0.1)
    raise AssertionError(f"no StatusNotifierItem of pid {pid} on {address}")


def registered_items(address: str) -> list[str]:
    """The watcher's RegisteredStatusNotifierItems ("busname/path" or "busname")."""
    from gi.repository import Gio, GLib

    conn = _bus(address)
    reply = conn.call_sync(WATCHER, "/StatusNotifierWatcher", "org.freedesktop.DBus.Properties",
                           "Get", GLib.Variant("(ss)", (WATCHER, "RegisteredStatusNotifierItems")),
                           GLib.VariantType("(v)"), Gio.DBusCallFlags.NONE, 3000, None)
    return list(reply.unpack()[0])


class SniDesktop:
    """status-notifier-watcher + gtk-sni-tray-standalone on one bus and display."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = dict(env)
        self.workdir = Path(workdir)
        self.watcher: subprocess.Popen | None = None
        self.host: subprocess.Popen | None = None

    def start_watcher(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "sni-watcher.log", "ab")
        self.watcher = subprocess.Popen(["status-notifier-watcher"], env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        log.close()
        _wait_name(self.env["DBUS_SESSION_BUS_ADDRESS"], WATCHER, True)

    def start_host(self) -> None:
        log = open(self.workdir / "sni-host.log", "ab")
        self.host = subprocess.Popen(["gtk-sni-tray-standalone", "--top", "--end",
                                      "--size", "32", "--color", "#dddddd"],
                                     env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()

    def start(self) -> "SniDesktop":
        self.start_watcher()
        self.start_host()
        return self

    def stop_watcher(self) -> None:
        stop_process(self.watcher)
        self.watcher = None
        _wait_name(self.env["DBUS_SESSION_BUS_ADDRESS"], WATCHER, False)

    def stop(self) -> None:
        stop_process(self.host)
        self.host = None
        if self.watcher is not None:
            self.stop_watcher()


def _wait_name(address: str, name: str, present: bool, timeout: float = 15.0) -> None:
    from gi.repository import Gio, GLib

    conn = _bus(address)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        has = conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                             "org.freedesktop.DBus", "NameHasOwner", GLib.Variant("(s)", (name,)),
                             GLib.VariantType("(b)"), Gio.DBusCallFlags.NONE, 2000,
                             None).unpack()[0]
        if has == present:
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} {'never appeared' if present else 'did not go away'}")

