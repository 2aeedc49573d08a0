"""Lock the screen (config `on_removal = "lock"`), as GNOME's smart-card plugin does.

Why two ways: desktops that own `org.freedesktop.ScreenSaver` on the session bus (KDE,
Xfce, GNOME through its compatibility name, light-locker, …) lock at once on `Lock()`;
elsewhere `loginctl lock-session` asks logind, which tells the session's locker.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess

log = logging.getLogger(__name__)

SCREENSAVER_NAME = "org.freedesktop.ScreenSaver"
SCREENSAVER_PATHS = ("/org/freedesktop/ScreenSaver", "/ScreenSaver")


def lock_via_dbus(timeout: float = 3.0) -> bool:
    """`org.freedesktop.ScreenSaver.Lock()`; False if nobody on the session bus answers."""
    try:
        import dbus
    except ImportError:
        return False
    bus = None
    try:
        from trayd.platform.notifier import session_bus

        bus = session_bus()
        for path in SCREENSAVER_PATHS:
            try:
                obj = bus.get_object(SCREENSAVER_NAME, path, introspect=False)
                obj.get_dbus_method("Lock", SCREENSAVER_NAME)(timeout=timeout)
                return True
            except dbus.DBusException as exc:
                log.debug("ScreenSaver.Lock at %s failed: %s", path, exc)
        return False
    except Exception as exc:  # noqa: BLE001 - no session bus at all
        log.debug("no session bus for ScreenSaver.Lock: %s", exc)
        return False
    finally:
        if bus is not None:
            try:
                bus.close()
            except Exception:  # noqa: BLE001
                pass


def lock_via_loginctl(timeout: float = 5.0) -> bool:
    loginctl = shutil.which("loginctl")
    if not loginctl:
        return False
    session = os.environ.get("XDG_SESSION_ID")
    cmd = [loginctl, "lock-session"] + ([session] if session else [])
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.debug("loginctl lock-session failed: %s", exc)
        return False
    if result.returncode != 0:
        log.debug("loginctl lock-session: %s", result.stderr.strip())
    return result.returncode == 0


def lock_screen() -> str | None:
    """Lock the session; returns how ("dbus" / "loginctl") or None if nothing worked."""
    if lock_via_dbus():
        log.info("screen locked (org.freedesktop.ScreenSaver)")
        return "dbus"
    if lock_via_loginctl():
        log.info("screen locked (loginctl lock-session)")
        return "loginctl"
    log.warning("could not lock the screen: no org.freedesktop.ScreenSaver on the session "
                "bus and loginctl lock-session failed")
    return None
