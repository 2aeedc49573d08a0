"""A recording desktop: `org.freedesktop.Notifications` and `org.freedesktop.ScreenSaver`.

Run as a child process on a private session bus (see fixtures_dbus.py):

    python tests/rig/notification_server.py [--notifications] [--screensaver] [--delay S]
                                            [--actions]

`--actions` advertises the "actions" capability; then each stdin line
{"invoke": ID, "key": KEY} makes the server emit ActionInvoked(ID, KEY) to the client
that made notification ID (unicast, as notification-daemon does), as if the user had
clicked that button.

Prints one JSON object per line on stdout: first {"kind": "ready", ...} once the names
are owned, then {"kind": "notify", ...} for every Notify call (app, replaces_id, icon,
summary, body, actions, hints, timeout, id, time = time.monotonic() on arrival, which is
CLOCK_MONOTONIC and so comparable across processes) and {"kind": "lock", ...} for every
ScreenSaver.Lock call.

Why a real D-Bus service with the real introspection XML: clients such as plyer take
the Notify argument types from `Introspect`; an auto-generated or empty answer makes
them fail ("Unable to guess signature from an empty list").
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import dbus
import dbus.lowlevel
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

NOTIFY_IFACE = "org.freedesktop.Notifications"
NOTIFY_PATH = "/org/freedesktop/Notifications"
SS_IFACE = "org.freedesktop.ScreenSaver"

NOTIFICATIONS_XML = """<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">
<node>
  <interface name="org.freedesktop.DBus.Introspectable">
    <method name="Introspect"><arg name="xml_data" type="s" direction="out"/></method>
  </interface>
  <interface name="org.freedesktop.DBus.Peer">
    <method name="Ping"/>
    <method name="GetMachineId"><arg name="machine_uuid" type="s" direction="out"/></method>
  </interface>
  <interface name="org.freedesktop.Notifications">
    <method name="GetCapabilities">
      <arg name="capabilities" type="as" direction="out"/>
    </method>
    <method name="Notify">
      <arg name="app_name" type="s" direction="in"/>
      <arg name="replaces_id" type="u" direction="in"/>
      <arg name="app_icon" type="s" direction="in"/>
      <arg name="summary" type="s" direction="in"/>
      <arg name="body" type="s" direction="in"/>
      <arg name="actions" type="as" direction="in"/>
      <arg name="hints" type="a{sv}" direction="in"/>
      <arg name="expire_timeout" type="i" direction="in"/>
      <arg name="id" type="u" direction="out"/>
    </method>
    <method name="CloseNotification">
      <arg name="id" type="u" direction="in"/>
    </method>
    <method name="GetServerInformation">
      <arg name="name" type="s" direction="out"/>
      <arg name="vendor" type="s" direction="out"/>
      <arg name="version" type="s" direction="out"/>
      <arg name="spec_version" type="s" direction="out"/>
    </method>
    <signal name="NotificationClosed">
      <arg name="id" type="u"/>
      <arg name="reason" type="u"/>
    </signal>
    <signal name="ActionInvoked">
      <arg name="id" type="u"/>
      <arg name="action_key" type="s"/>
    </signal>
  </interface>
</node>
"""

SCREENSAVER_XML = """<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">
<node>
  <interface name="org.freedesktop.DBus.Introspectable">
    <method name="Introspect"><arg name="xml_data" type="s" direction="out"/></method>
  </interface>
  <interface name="org.freedesktop.ScreenSaver">
    <method name="Lock"/>
    <method name="GetActive"><arg type="b" direction="out"/></method>
    <method name="SetActive"><arg type="b" direction="in"/><arg type="b" direction="out"/></method>
    <signal name="ActiveChanged"><arg type="b"/></signal>
  </interface>
</node>
"""


def emit(record: dict) -> None:
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def plain(value):
    """dbus types → JSON-able Python values."""
    if isinstance(value, (dbus.Boolean,)):
        return bool(value)
    if isinstance(value, (dbus.Byte, dbus.Int16, dbus.Int32, dbus.Int64, dbus.UInt16,
                          dbus.UInt32, dbus.UInt64)):
        return int(value)
    if isinstance(value, dbus.Double):
        return float(value)
    if isinstance(value, (dbus.Array, list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (dbus.Dictionary, dict)):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (dbus.ByteArray, bytes)):
        return bytes(value).hex()
    return str(value)


class Notifications(dbus.service.Object):
    def __init__(self, conn: dbus.Bus, delay: float = 0.0, actions: bool = False) -> None:
        super().__init__(conn, NOTIFY_PATH)
        self.conn = conn
        self.next_id = 0
        self.delay = delay  # seconds before answering Notify: a slow or hung desktop
        self.actions = actions
        self.senders: dict[int, str] = {}  # notification id -> the client's unique name

    @dbus.service.method("org.freedesktop.DBus.Introspectable", in_signature="",
                         out_signature="s")
    def Introspect(self):  # noqa: N802 - D-Bus names
        return NOTIFICATIONS_XML

    @dbus.service.method(NOTIFY_IFACE, in_signature="", out_signature="as")
    def GetCapabilities(self):  # noqa: N802
        return ["body", "icon-static", "persistence"] + (["actions"] if self.actions else [])

    def invoke(self, nid: int, key: str) -> None:
        """Emit ActionInvoked(nid, key) to the client that made notification `nid`."""
        msg = dbus.lowlevel.SignalMessage(NOTIFY_PATH, NOTIFY_IFACE, "ActionInvoked")
        msg.append(dbus.UInt32(nid), key, signature="us")
        if nid in self.senders:
            msg.set_destination(self.senders[nid])
        self.conn.send_message(msg)
        emit({"kind": "invoked", "time": time.monotonic(), "id": nid, "key": key,
              "to": self.senders.get(nid, "")})

    @dbus.service.method(NOTIFY_IFACE, in_signature="susssasa{sv}i", out_signature="u",
                         sender_keyword="sender")
    def Notify(self, app, replaces_id, icon, summary, body, actions, hints, timeout,  # noqa: N802
               sender=None):
        now = time.monotonic()
        if replaces_id:
            nid = int(replaces_id)
        else:
            self.next_id += 1
            nid = self.next_id
        if sender:
            self.senders[nid] = str(sender)
        emit({"kind": "notify", "time": now, "id": nid, "app": str(app),
              "replaces_id": int(replaces_id), "icon": str(icon), "summary": str(summary),
              "body": str(body), "actions": plain(actions), "hints": plain(hints),
              "timeout": int(timeout)})
        if self.delay:
            time.sleep(self.delay)
        return dbus.UInt32(nid)

    @dbus.service.method(NOTIFY_IFACE, in_signature="u", out_signature="")
    def CloseNotification(self, nid):  # noqa: N802
        emit({"kind": "close", "time": time.monotonic(), "id": int(nid)})

    @dbus.service.method(NOTIFY_IFACE, in_signature="", out_signature="ssss")
    def GetServerInformation(self):  # noqa: N802
        return ("trayd-test-notifications", "trayd", "1.0", "1.2")


class ScreenSaver(dbus.service.Object):
    def __init__(self, conn: dbus.Bus, path: str) -> None:
        super().__init__(conn, path)
        self.active = False

    @dbus.service.method("org.freedesktop.DBus.Introspectable", in_signature="",
                         out_signature="s")
    def Introspect(self):  # noqa: N802
        return SCREENSAVER_XML

    @dbus.service.method(SS_IFACE, in_signature="", out_signature="")
    def Lock(self):  # noqa: N802
        self.active = True
        emit({"kind": "lock", "time": time.monotonic()})

    @dbus.service.method(SS_IFACE, in_signature="", out_signature="b")
    def GetActive(self):  # noqa: N802
        return self.active

    @dbus.service.method(SS_IFACE, in_signature="b", out_signature="b")
    def SetActive(self, value):  # noqa: N802
        self.active = bool(value)
        return True


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--notifications", action="store_true")
    ap.add_argument("--screensaver", action="store_true")
    ap.add_argument("--actions", action="store_true", help="advertise the actions capability")
    ap.add_argument("--delay", type=float, default=0.0,
                    help="seconds to wait before answering Notify (a hung server)")
    args = ap.parse_args()
    DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    keep = []
    names = []
    server = None
    if args.notifications:
        server = Notifications(bus, args.delay, args.actions)
        keep.append(server)
        keep.append(dbus.service.BusName(NOTIFY_IFACE, bus, do_not_queue=True))
        names.append(NOTIFY_IFACE)
    if args.screensaver:
        keep.append(ScreenSaver(bus, "/org/freedesktop/ScreenSaver"))
        keep.append(ScreenSaver(bus, "/ScreenSaver"))
        keep.append(dbus.service.BusName(SS_IFACE, bus, do_not_queue=True))
        names.append(SS_IFACE)
    emit({"kind": "ready", "time": time.monotonic(), "names": names,
          "unique_name": bus.get_unique_name()})
    if server is not None and args.actions:
        def command(source, _cond) -> bool:
            line = source.readline()
            if not line:
                return False
            try:
                cmd = json.loads(line)
                server.invoke(int(cmd["invoke"]), str(cmd["key"]))
            except (ValueError, KeyError) as exc:
                emit({"kind": "error", "detail": str(exc)})
            return True

        GLib.io_add_watch(sys.stdin, GLib.IO_IN | GLib.IO_HUP, command)
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, 15, loop.quit)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
