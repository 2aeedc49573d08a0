"""Xvfb and a tray host (trayer) for GUI tests; screenshots with ImageMagick's `import`."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from rig.procs import stop_process


class Xvfb:
    def __init__(self, size: str = "1280x800x24") -> None:
        self.size = size
        self.proc: subprocess.Popen | None = None
        self.display: str | None = None

    def start(self, timeout: float = 15.0) -> str:
        r, w = os.pipe()
        self.proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(w), "-screen", "0", self.size, "-nolisten", "tcp",
             "-noreset"],
            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(w)
        deadline = time.monotonic() + timeout
        buf = b""
        with os.fdopen(r, "rb", buffering=0) as pipe:
            while not buf.endswith(b"\n") and time.monotonic() < deadline:
                chunk = pipe.read(16)
                if not chunk:
                    break
                buf += chunk
        if not buf.strip():
            self.stop()
            raise RuntimeError("Xvfb did not report a display number")
        self.display = f":{buf.decode().strip()}"
        return self.display

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


class TrayHost:
    """trayer: a small XEmbed system tray (the `_NET_SYSTEM_TRAY_S0` selection owner)."""

    def __init__(self, display: str, env: dict[str, str] | None = None) -> None:
        self.display = display
        self.env = dict(env or os.environ)
        self.env["DISPLAY"] = display
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> None:
        self.proc = subprocess.Popen(
            ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
             "--height", "32", "--SetDockType", "true", "--transparent", "false",
             "--tint", "0xdddddd", "--iconspacing", "4"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.has_selection():
                return
            time.sleep(0.1)
        raise RuntimeError("trayer did not take the system tray selection")

    def has_selection(self) -> bool:
        """True once some client owns the XEmbed tray selection `_NET_SYSTEM_TRAY_S0`."""
        from Xlib import X, display as xdisplay

        d = xdisplay.Display(self.display)
        try:
            owner = d.get_selection_owner(d.intern_atom("_NET_SYSTEM_TRAY_S0"))
            return owner not in (X.NONE, 0) and getattr(owner, "id", owner) != 0
        finally:
            d.close()

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


def screenshot(display: str, path: Path, window: str = "root") -> Path:
    """Save a PNG of the whole screen (or one window id) — look at it with an image viewer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["import", "-display", display, "-window", window, str(path)],
                   check=True, capture_output=True, timeout=30)
    return path


def have_gui_tools() -> list[str]:
    return [t for t in ("Xvfb", "trayer", "xdotool", "import", "xwininfo") if not shutil.which(t)]
