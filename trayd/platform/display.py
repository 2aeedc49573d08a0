"""Is there a graphical session to show a window or an icon on?

Why one function: the tray, the root prompt, `trayd manage`, `trayd root install`, the
window process (`python -m trayd.ui`) and the root warning all decide "window or not"
from the same two variables; X11 (`DISPLAY`) and Wayland (`WAYLAND_DISPLAY`, where Tk and
GTK run through Xwayland or natively) both count. Whether a tray host is there is a
different question (`trayd.platform.tray_host`).
"""
from __future__ import annotations

import os


def has_display() -> bool:
    """True when an X11 or Wayland display is set for this process."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
