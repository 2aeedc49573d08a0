"""Answering a yes/no dialog every way that is not 「はい」, for the consent tests.

Why a helper: the root warning, the browser offer and the exit confirmation must all treat
Escape, Return (the default button), the window being closed, the dialog process being
killed and the dialog never starting as "no". Each way is driven for real on Xvfb:
keys with xdotool, closing with a WM_DELETE_WINDOW client message (what a window
manager's close button sends; Xvfb has no window manager), killing with SIGKILL.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

NOT_YES = ("escape", "return", "close", "kill")  # "no-start" is arranged by each test


def child_pids(pid: int) -> list[int]:
    """Direct children of `pid` (every thread's list)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def dialog_pid(parent: int, subcommand: str) -> int:
    """The `python -m trayd.ui <subcommand>` child of `parent`."""
    for pid in child_pids(parent):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"trayd.ui" in argv and subcommand.encode() in argv:
            return pid
    raise AssertionError(f"no trayd.ui {subcommand} child of {parent}")


def _alive(pid: int) -> bool:
    """Running (not a zombie awaiting its parent's wait)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def close_window(display: str, title: str) -> int:
    """Send WM_DELETE_WINDOW to every top-level window titled `title`; how many got it."""
    from Xlib import X, display as xdisplay
    from Xlib.protocol import event

    d = xdisplay.Display(display)
    try:
        protocols = d.intern_atom("WM_PROTOCOLS")
        delete = d.intern_atom("WM_DELETE_WINDOW")
        net_name, utf8 = d.intern_atom("_NET_WM_NAME"), d.intern_atom("UTF8_STRING")
        found = 0
        for win in d.screen().root.query_tree().children:  # no WM: top levels are here
            prop = win.get_full_property(net_name, utf8)
            name = prop.value.decode("utf-8", "replace") if prop else win.get_wm_name()
            if name != title:
                continue
            msg = event.ClientMessage(window=win, client_type=protocols,
                                      data=(32, [delete, X.CurrentTime, 0, 0, 0]))
            win.send_event(msg, event_mask=X.NoEventMask)
            found += 1
        d.flush()
    finally:
        d.close()
    return found


def answer_not_yes(how: str, display: str, widget: dict, title: str, pid: int) -> None:
    """Answer the dialog showing `widget` (hook geometry) in way `how` (see NOT_YES)."""
    env = dict(os.environ, DISPLAY=display)
    if how in ("escape", "return"):
        # No window manager: keyboard focus follows the pointer.
        x, y = widget["x"] + widget["w"] // 2, widget["y"] + widget["h"] // 2
        subprocess.run(["xdotool", "mousemove", "--sync", str(x), str(y)], env=env,
                       check=True, timeout=20)
        subprocess.run(["xdotool", "key", "Escape" if how == "escape" else "Return"],
                       env=env, check=True, timeout=20)
    elif how == "close":
        # Sent again while the dialog lives: one message right after the window mapped
        # was seen to get lost (a user would click the close button again).
        for _ in range(10):
            assert close_window(display, title) >= 1 or not _alive(pid), \
                f"no window titled {title!r}"
            deadline = time.monotonic() + 2.0
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not _alive(pid):
                return
        raise AssertionError("the dialog ignored WM_DELETE_WINDOW")
    elif how == "kill":
        os.kill(pid, signal.SIGKILL)
    else:
        raise ValueError(how)
