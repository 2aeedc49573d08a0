"""A StatusNotifierWatcher that owns its name before it exports its object.

    python tests/rig/late_watcher.py      (DBUS_SESSION_BUS_ADDRESS from the environment)

Why: real watchers (status-notifier-watcher, panels starting at login) take the bus name
org.kde.StatusNotifierWatcher a moment before they export /StatusNotifierWatcher. An
item that registers in that gap gets an error; libayatana never retries. With the real
watcher the gap is a few ms, so a test hits it only sometimes. This watcher makes the gap
certain: it exports its object only after the first RegisterStatusNotifierItem has
arrived (and been refused by GDBus for the missing object), then behaves as a plain
watcher (items listed as "<sender><path>", no host needed: libayatana does not ask).
Prints "refused" and "exported" lines on stdout, one per event.
"""
from __future__ import annotations

import sys

from gi.repository import Gio, GLib

NAME = "org.kde.StatusNotifierWatcher"
PATH = "/StatusNotifierWatcher"
XML = f"""<node><interface name="{NAME}">
  <method name="RegisterStatusNotifierItem"><arg type="s" direction="in"/></method>
  <method name="RegisterStatusNotifierHost"><arg type="s" direction="in"/></method>
  <property name="RegisteredStatusNotifierItems" type="as" access="read"/>
  <property name="IsStatusNotifierHostRegistered" type="b" access="read"/>
  <property name="ProtocolVersion" type="i" access="read"/>
  <signal name="StatusNotifierItemRegistered"><arg type="s"/></signal>
</interface></node>"""
EXPORT_AFTER_MS = 200  # after the refused call: GDBus has answered it by then


def main() -> int:
    items: list[str] = []
    conn = Gio.bus_get_sync(Gio.BusType.SESSION, None)
    iface = Gio.DBusNodeInfo.new_for_xml(XML).interfaces[0]
    state = {"seen": False}

    def method(c, sender, _path, _iface, name, params, invocation) -> None:
        if name == "RegisterStatusNotifierItem":
            arg = params.unpack()[0]
            item = sender + arg if arg.startswith("/") else arg
            if item not in items:
                items.append(item)
                c.emit_signal(None, PATH, NAME, "StatusNotifierItemRegistered",
                              GLib.Variant("(s)", (item,)))
        invocation.return_value(None)

    def prop(_c, _sender, _path, _iface, name):
        return {"RegisteredStatusNotifierItems": GLib.Variant("as", items),
                "IsStatusNotifierHostRegistered": GLib.Variant("b", True),
                "ProtocolVersion": GLib.Variant("i", 0)}[name]

    def export() -> bool:
        conn.register_object(PATH, iface, method, prop, None)
        print("exported", flush=True)
        return False

    def watch(_c, message, incoming):  # GDBus worker thread
        if (incoming and not state["seen"] and message.get_path() == PATH
                and message.get_member() == "RegisterStatusNotifierItem"):
            state["seen"] = True
            print("refused", message.get_sender(), flush=True)
            GLib.timeout_add(EXPORT_AFTER_MS, export)
        return message

    conn.add_filter(watch)
    reply = conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                           "org.freedesktop.DBus", "RequestName",
                           GLib.Variant("(su)", (NAME, 4)),  # DO_NOT_QUEUE
                           GLib.VariantType("(u)"), Gio.DBusCallFlags.NONE, 5000, None)
    if reply.unpack()[0] != 1:
        print("name taken", flush=True)
        return 1
    print("owned", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
