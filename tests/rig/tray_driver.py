"""Drive the tray icon under Xvfb like a user: find it in trayer, click it, read its pixels.

Why these tools: the icon is a GtkStatusIcon plug embedded in trayer (XEmbed), and its
menu is a GTK popup with no accessibility bridge here. `xwininfo -tree` finds the plug
inside trayer's panel, xdotool clicks and types (GTK menus grab the keyboard, so arrow
keys walk the menu deterministically), and a screenshot crop of the plug tells which of
the four icon states is really on screen.
"""
from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from rig.xserver import screenshot

_LINE = re.compile(
    r"^(?P<indent>\s*)(?P<id>0x[0-9a-f]+) (?P<name>\(has no name\)|\"[^\"]*\")"
    r"(?:: \((?P<cls>[^)]*)\))?\s+(?P<w>\d+)x(?P<h>\d+)[+-]-?\d+[+-]-?\d+\s+"
    r"\+(?P<ax>-?\d+)\+(?P<ay>-?\d+)")


@dataclass(frozen=True)
class Win:
    id: str
    name: str
    cls: str
    w: int
    h: int
    x: int  # absolute
    y: int
    depth: int


def window_tree(display: str) -> list[Win]:
    out = subprocess.run(["xwininfo", "-display", display, "-root", "-tree"],
                         capture_output=True, text=True, timeout=10).stdout
    wins = []
    for line in out.splitlines():
        m = _LINE.match(line)
        if m:
            wins.append(Win(m["id"], m["name"].strip('"'), m["cls"] or "", int(m["w"]),
                            int(m["h"]), int(m["ax"]), int(m["ay"]), len(m["indent"])))
    return wins


def is_viewable(display: str, win: str) -> bool:
    out = subprocess.run(["xwininfo", "-display", display, "-id", win],
                         capture_output=True, text=True, timeout=10).stdout
    return "IsViewable" in out


def wait_until(pred, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        result = pred()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s: {what}")
        time.sleep(interval)


def docked_icon(display: str, min_h: int = 16) -> Win | None:
    """trayd's XEmbed plug inside trayer's panel (at least 16 px wide, `min_h` high),
    or None: the windows after the panel that are deeper than it are its contents."""
    tree = window_tree(display)
    panel = next((w for w in tree if '"panel" "trayer"' in w.cls), None)
    if panel is None:
        return None
    inside = False
    for w in tree:
        if w is panel:
            inside = True
            continue
        if inside and w.depth <= panel.depth:
            break
        if inside and '"trayd"' in w.cls and w.w >= 16 and w.h >= min_h:
            return w
    return None


def classify_icon(img: Image.Image) -> str:
    """Which trayd icon state a crop shows, from its colours (see trayd/icons.py):
    blue body = present; + green badge = logged_in; + red badge = error; grey = none."""
    rgb = img.convert("RGB")
    blue = green = red = grey = 0
    raw = rgb.tobytes()
    for i in range(0, len(raw), 3):
        r, g, b = raw[i], raw[i + 1], raw[i + 2]
        if b > 150 and r < 90 and 70 < g < 140:
            blue += 1
        elif g > 130 and r < 100 and b < 110:
            green += 1
        elif r > 180 and g < 90 and b < 90:
            red += 1
        elif 120 < r < 180 and abs(r - g) < 12 and abs(g - b) < 12:
            grey += 1
    if red > 10:
        return "error"
    if green > 10:
        return "logged_in"
    if blue > 20:
        return "present"
    if grey > 10:
        return "none"
    return "unknown"


class TrayDriver:
    def __init__(self, display: str, artifacts: Path, env: dict[str, str]) -> None:
        self.display = display
        self.artifacts = artifacts
        self.env = dict(env)
        self.env["DISPLAY"] = display

    def xdotool(self, *args: str) -> str:
        return subprocess.run(["xdotool", *args], env=self.env, capture_output=True,
                              text=True, timeout=10, check=True).stdout

    def icon_window(self, timeout: float = 20.0) -> Win:
        """trayd's plug inside trayer's panel (the icon has docked)."""

        return wait_until(lambda: docked_icon(self.display), timeout,
                          "trayd's icon docked in trayer")

    def popups(self) -> list[Win]:
        """trayd's mapped top-level GTK popups (the menu and its open submenus)."""
        return [w for w in window_tree(self.display)
                if w.depth == 5 and w.name == "trayd" and w.w > 40 and w.h > 20
                and is_viewable(self.display, w.id)]

    def _until_popup(self, poke, timeout: float, per_try: float, what: str) -> Win:
        """Repeat `poke()` until one of trayd's popups is mapped, waiting `per_try` seconds
        after each; fail after `timeout` seconds in all."""
        deadline = time.monotonic() + timeout
        while True:
            detail = poke()
            wait = min(per_try, max(0.1, deadline - time.monotonic()))
            try:
                return wait_until(lambda: (self.popups() or [None])[0], wait, what)
            except AssertionError:
                if time.monotonic() >= deadline:
                    raise AssertionError(f"timed out after {timeout}s: {what} {detail}"
                                         ) from None

    def open_menu(self, timeout: float = 10.0, per_click: float = 2.5) -> Win:
        """Right-click the icon until its menu is mapped.

        A click can be lost: trayer lays out a newly docked plug after it first appears
        in the tree (the icon moves), and a plug that is mapped a moment before GTK
        selects its button events ignores the press. So the icon is looked up again and
        clicked again when no popup followed within `per_click` seconds."""

        def click() -> str:
            icon = self.icon_window()
            self.xdotool("mousemove", str(icon.x + icon.w // 2), str(icon.y + icon.h // 2))
            self.xdotool("click", "3")
            return f"(icon at {icon.x},{icon.y} {icon.w}x{icon.h})"

        return self._until_popup(click, timeout, per_click, "tray menu opened")

    def choose(self, keys: tuple[str, ...], done, what: str, attempts: int = 3,
               timeout: float = 8.0):
        """Open the menu, walk it with `keys`, and wait for `done()` to be truthy.

        A key typed in the instant between the popup being mapped and GTK taking its
        keyboard grab is lost; then the menu is closed and the walk repeated (the
        result is checked, not assumed)."""
        for attempt in range(attempts):
            self.open_menu()
            self.keys(*keys)
            try:
                return wait_until(done, timeout, what)
            except AssertionError:
                if attempt == attempts - 1:
                    raise
                self.close_menus()

    def hover_tooltip(self, timeout: float = 20.0) -> Win:
        """Move the pointer onto the icon until GTK shows its tooltip popup."""

        def hover() -> str:
            icon = self.icon_window()
            cx, cy = icon.x + icon.w // 2, icon.y + icon.h // 2
            self.xdotool("mousemove", "600", "400")
            self.xdotool("mousemove", str(cx), str(cy))
            self.xdotool("mousemove", str(cx + 1), str(cy))
            return f"(icon at {icon.x},{icon.y})"

        return self._until_popup(hover, timeout, 2.5, "tooltip shown on hover")

    def keys(self, *keys: str, pause: float = 0.15) -> None:
        """Arrow keys / Return into the open menu (GTK menus hold the keyboard grab)."""
        for k in keys:
            self.xdotool("key", k)
            time.sleep(pause)  # GTK handles key repeat state per event; keep them apart

    def close_menus(self) -> None:
        for _ in range(3):
            if not self.popups():
                return
            self.xdotool("key", "Escape")
            time.sleep(0.2)

    def snap(self, name: str) -> Path:
        return screenshot(self.display, self.artifacts / f"{name}.png")

    def icon_state(self, name: str = "tray-icon") -> tuple[str, Image.Image]:
        icon = self.icon_window()
        shot = self.snap(name)
        crop = Image.open(shot).crop((icon.x, icon.y, icon.x + icon.w, icon.y + icon.h))
        return classify_icon(crop), crop

    def wait_icon(self, state: str, timeout: float = 20.0) -> Image.Image:
        seen: list[str] = []

        def check() -> Image.Image | None:
            got, crop = self.icon_state(f"tray-icon-{state}")
            seen.append(got)
            return crop if got == state else None

        try:
            return wait_until(check, timeout, f"icon shows {state!r}", interval=0.3)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; states seen on screen: {seen[-5:]}") from None
