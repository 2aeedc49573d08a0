"""The desktop session: notification service, tray host, autostart, the running agent.

Why D-Bus and X11 probes instead of asking the toolkit: `trayd doctor` runs in a
terminal without loading GTK; a notification server is a name on the session bus (or a
D-Bus activatable one), a tray host is either a StatusNotifierWatcher on the session bus
(KDE, GNOME with the AppIndicator extension, …) or the owner of the X selection
`_NET_SYSTEM_TRAY_S<screen>` (XEmbed trays: XFCE, MATE, LXDE, trayer).
"""
from __future__ import annotations

import os
from pathlib import Path

from trayd.doctor import OK, WARNING, CheckResult, Context, check
from trayd.i18n import _
from trayd.platform.tray_host import sni_watcher, xembed_tray

NOTIFICATIONS = "org.freedesktop.Notifications"


def session_bus_names() -> tuple[set[str], set[str]] | None:
    """(owned names, activatable names) on the session bus, or None without one."""
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS") and not Path(
            os.environ.get("XDG_RUNTIME_DIR", "/nonexistent"), "bus").exists():
        return None
    try:
        from trayd.platform import gdbus

        conn = gdbus.connect_sync()
    except Exception:  # noqa: BLE001 - no PyGObject, no bus (GLib.Error)
        return None
    try:
        args = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")
        owned = set(gdbus.call_sync(conn, *args, "ListNames", "(as)")[0])
        activatable = set(gdbus.call_sync(conn, *args, "ListActivatableNames", "(as)")[0])
        return owned, activatable
    except Exception:  # noqa: BLE001 - GLib.Error
        return None
    finally:
        gdbus.close(conn, wait=True)


@check("notifications", lambda: _("Notification service"), order=90)
def notifications(ctx: Context) -> CheckResult:
    names = session_bus_names()
    ctx.facts["bus_names"] = names
    if names is None:
        return CheckResult("notifications", WARNING, _("No D-Bus session bus (not in a "
                                                       "desktop session?)."),
                           _("Run trayd inside your desktop session."))
    owned, activatable = names
    if NOTIFICATIONS in owned:
        return CheckResult("notifications", OK, _("{name} is running.").format(
            name=NOTIFICATIONS))
    if NOTIFICATIONS in activatable:
        return CheckResult("notifications", OK, _("{name} starts on demand.").format(
            name=NOTIFICATIONS))
    return CheckResult("notifications", WARNING, _("No notification service on the "
                                                   "session bus."),
                       _("Install a notification daemon (e.g. 'sudo apt install "
                         "notification-daemon') or use a desktop that has one."))


@check("tray", lambda: _("Tray host"), order=100)
def tray(ctx: Context) -> CheckResult:
    names = ctx.facts.get("bus_names", session_bus_names())
    watcher = sni_watcher() if names is not None else None  # no bus: ask no one
    if watcher:
        return CheckResult("tray", OK, _("StatusNotifierWatcher: {name}").format(
            name=watcher))
    xembed = xembed_tray()
    if xembed:
        return CheckResult("tray", OK, _("XEmbed system tray on {display}").format(
            display=os.environ.get("DISPLAY", "")))
    fix = _("trayd works without a tray (notifications, and 'ePass2003 管理ツール' in the "
            "applications menu). On GNOME install the AppIndicator extension "
            "('sudo apt install gnome-shell-extension-appindicator') to see the icon.")
    if names is None and xembed is None:
        return CheckResult("tray", WARNING, _("No graphical session (no session bus, no "
                                              "DISPLAY)."), fix)
    return CheckResult("tray", WARNING, _("No tray host (no StatusNotifierWatcher, no XEmbed "
                                          "tray)."), fix)


@check("autostart", lambda: _("Autostart"), order=110)
def autostart_check(ctx: Context) -> CheckResult:
    from trayd.messages import autostart_method
    from trayd.platform import autostart

    st = autostart.status()
    if st.method == "none":
        return CheckResult("autostart", WARNING, autostart_method(st.method),
                           _("Start the agent at login: 'trayd autostart enable'."))
    return CheckResult("autostart", OK, autostart_method(st.method))


@check("agent", lambda: _("Agent"), order=120)
def agent(ctx: Context) -> CheckResult:
    """Read the lock file's pid instead of trying the lock: probing it could make an
    agent that starts at that very moment believe another one runs."""
    from trayd import paths

    try:
        pid = int(paths.instance_lock().read_text().strip() or 0)
    except (OSError, ValueError):
        pid = 0
    if pid and Path(f"/proc/{pid}").exists():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            cmdline = ""
        if "trayd" in cmdline:
            return CheckResult("agent", OK, _("Running (pid {pid}).").format(pid=pid))
    return CheckResult("agent", WARNING, _("The agent is not running."),
                       _("Start it: 'trayd run' (or log out and in again with autostart "
                         "enabled)."))


@check("config", lambda: _("Configuration file"), order=5)
def config_file(ctx: Context) -> CheckResult:
    src = ctx.cfg.source
    if ctx.cfg.problems:
        return CheckResult("config", WARNING, "; ".join(ctx.cfg.problems),
                           _("Correct the file; the defaults are used for the keys shown."))
    if src and Path(src).exists():
        return CheckResult("config", OK, str(src))
    return CheckResult("config", OK, _("No configuration file; defaults are used."))
