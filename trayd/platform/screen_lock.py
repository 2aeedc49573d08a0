"""Lock the screen (config `on_removal = "lock"`), as GNOME's smart-card plugin does.

Why two ways: desktops that own `org.freedesktop.ScreenSaver` on the session bus (KDE,
Xfce, GNOME through its compatibility name, light-locker, …) lock at once on `Lock()`;
elsewhere `loginctl lock-session` asks logind, which tells the session's locker.

Why asynchronous: the agent locks from its one loop, which must not wait on a hung
screensaver or logind. The D-Bus call (GDBus, `platform/gdbus.py`) and `loginctl` (a
`Gio.Subprocess`) both finish on the calling thread's main context; `done(how)` gets
"dbus", "loginctl" or None.
"""
from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from typing import Any

from trayd.platform import gdbus

log = logging.getLogger(__name__)

SCREENSAVER_NAME = "org.freedesktop.ScreenSaver"
SCREENSAVER_PATHS = ("/org/freedesktop/ScreenSaver", "/ScreenSaver")
CALL_TIMEOUT_MS = 3000
LOGINCTL_TIMEOUT_S = 5

Done = Callable[[bool], None]


def lock_via_dbus(done: Done, address: str | None = None) -> None:
    """`org.freedesktop.ScreenSaver.Lock()` at each known path; `done(False)` if nobody on
    the session bus answers."""
    from gi.repository import Gio

    def opened(conn: Any, error: BaseException | None) -> None:
        if error is not None:
            log.debug("no session bus for ScreenSaver.Lock: %s", error)
            done(False)
            return
        call(conn, list(SCREENSAVER_PATHS))

    def call(conn: Any, paths: list[str]) -> None:
        if not paths:
            gdbus.close(conn)
            done(False)
            return
        path = paths.pop(0)

        def answered(_conn: Any, result: Any) -> None:
            try:
                conn.call_finish(result)
            except Exception as exc:  # noqa: BLE001 - GLib.Error: no such name, path, …
                log.debug("ScreenSaver.Lock at %s failed: %s", path, exc)
                call(conn, paths)
                return
            gdbus.close(conn)
            done(True)

        conn.call(SCREENSAVER_NAME, path, SCREENSAVER_NAME, "Lock", None, None,
                  Gio.DBusCallFlags.NONE, CALL_TIMEOUT_MS, None, answered)

    gdbus.connect(opened, address)


def lock_via_loginctl(done: Done) -> None:
    """`loginctl lock-session [$XDG_SESSION_ID]`; `done(False)` if it is missing, fails or
    takes longer than LOGINCTL_TIMEOUT_S."""
    from gi.repository import Gio, GLib

    loginctl = shutil.which("loginctl")
    if not loginctl:
        done(False)
        return
    session = os.environ.get("XDG_SESSION_ID")
    cmd = [loginctl, "lock-session"] + ([session] if session else [])
    try:
        # No pipes: a grandchild holding one open would outlive the timeout below.
        proc = Gio.Subprocess.new(cmd, Gio.SubprocessFlags.STDOUT_SILENCE
                                  | Gio.SubprocessFlags.STDERR_SILENCE)
    except Exception as exc:  # noqa: BLE001 - GLib.Error: cannot run it
        log.debug("loginctl lock-session failed: %s", exc)
        done(False)
        return
    # On the caller's context, as the child's own completion is.
    timer = GLib.timeout_source_new_seconds(LOGINCTL_TIMEOUT_S)
    timer.set_callback(lambda *_a: proc.force_exit() or False)
    timer.attach(GLib.MainContext.ref_thread_default())

    def finished(_proc: Any, result: Any) -> None:
        timer.destroy()
        try:
            proc.wait_finish(result)
        except Exception as exc:  # noqa: BLE001
            log.debug("loginctl lock-session failed: %s", exc)
            done(False)
            return
        ok = proc.get_if_exited() and proc.get_exit_status() == 0
        if not ok:
            log.debug("loginctl lock-session failed (%s)", f"exit status {proc.get_exit_status()}"
                      if proc.get_if_exited() else f"signal {proc.get_term_sig()}")
        done(bool(ok))

    proc.wait_async(None, finished)


def lock_screen(done: Callable[[str | None], None] = lambda how: None) -> None:
    """Lock the session without blocking; `done(how)`: "dbus", "loginctl" or None."""
    def after_dbus(ok: bool) -> None:
        if ok:
            log.info("screen locked (org.freedesktop.ScreenSaver)")
            done("dbus")
            return
        lock_via_loginctl(after_loginctl)

    def after_loginctl(ok: bool) -> None:
        if ok:
            log.info("screen locked (loginctl lock-session)")
            done("loginctl")
            return
        log.warning("could not lock the screen: no org.freedesktop.ScreenSaver on the session "
                    "bus and loginctl lock-session failed")
        done(None)

    lock_via_dbus(after_dbus)
