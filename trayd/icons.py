"""trayd's icons: a USB token with a state badge, kept as drawing data.

Why data: the tray (by icon *name*, from an icon theme), the notifications, the desktop
entry and the Tk windows all show the same four states at many sizes and scales. One
list of shapes per state (a 64 x 64 grid) is written out as SVG (hicolor `scalable`) and
drawn with Pillow at every fixed size (PNG, 4x supersampled), so there is one source of
truth and no binary asset in the repository. `write_theme()` builds the hicolor tree:
the .deb installs it under /usr/share/icons, a checkout has it in build/icons (made by
`make setup`, or by the agent the first time), and the tray points its StatusNotifierItem
`IconThemePath` there. Nothing is ever written to a temporary file.

States and names: "none" trayd-no-token (grey, hollow), "present" trayd-token (blue),
"logged_in" trayd-token-logged-in (blue, green check badge), "error" trayd-token-error
(blue-grey, red "!" badge: PIN locked, pcscd down or refused). The application icon
`trayd` is the "present" drawing.
"""
from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw

from trayd.files import write_atomic

STATES = ("none", "present", "logged_in", "error")
NAMES = {"none": "trayd-no-token", "present": "trayd-token",
         "logged_in": "trayd-token-logged-in", "error": "trayd-token-error"}
APP_ICON = "trayd"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256)
CHECKOUT_THEME = Path(__file__).resolve().parent.parent / "build" / "icons"
SYSTEM_THEME = Path("/usr/share/icons")

Rgba = tuple[int, int, int, int]
_BODY = {"none": (150, 150, 150, 255), "present": (33, 102, 196, 255),
         "logged_in": (33, 102, 196, 255), "error": (96, 110, 130, 255)}
_METAL = (205, 208, 214, 255)
_DARK = (40, 44, 52, 255)
_WHITE = (255, 255, 255, 255)
_CLEAR = (0, 0, 0, 0)
_BADGE = {"logged_in": (46, 160, 67, 255), "error": (214, 48, 49, 255)}
_SS = 4  # supersampling factor for the PNGs


@dataclass(frozen=True)
class Shape:
    """One primitive on the 64 grid. kind: rrect, ellipse, polyline, cut (a hole)."""
    kind: str
    box: tuple[float, ...]  # x0 y0 x1 y1 (polyline: x y pairs)
    fill: Rgba | None = None
    stroke: Rgba | None = None
    width: float = 0.0
    radius: float = 0.0


def shapes(state: str) -> tuple[Shape, ...]:
    """The drawing of `state`: an upright token (USB plug on top, key-ring hole below)."""
    _check_state(state)
    body = _BODY[state]
    hollow = state == "none"
    out = [Shape("rrect", (22, 3, 42, 21), _METAL, _DARK, 1.5, 2),
           Shape("rrect", (26, 8, 30, 12), _DARK), Shape("rrect", (34, 8, 38, 12), _DARK)]
    if hollow:
        out.append(Shape("rrect", (15, 19, 49, 61), (235, 235, 235, 255), body, 3, 9))
    else:
        out += [Shape("rrect", (15, 19, 49, 61), body, _DARK, 1.5, 9),
                Shape("rrect", (21, 27, 43, 33), (255, 255, 255, 200), radius=2)]
    out += [Shape("ellipse", (28.5, 48, 35.5, 55), None, body if hollow else _DARK, 2),
            Shape("cut", (30, 49.5, 34, 53.5))]
    if state in _BADGE:
        out.append(Shape("ellipse", (36, 36, 63, 63), _BADGE[state], _WHITE, 2.5))
        if state == "logged_in":
            out.append(Shape("polyline", (42, 50, 47.5, 55.5, 56.5, 44), None, _WHITE, 4))
        else:
            out += [Shape("rrect", (47.5, 41, 51.5, 52.5), _WHITE, radius=1.5),
                    Shape("ellipse", (47.3, 54.5, 51.7, 58.9), _WHITE)]
    return tuple(out)


def _check_state(state: str) -> None:
    if state not in STATES:
        raise ValueError(f"unknown icon state {state!r}; expected one of {', '.join(STATES)}")


# -- SVG ------------------------------------------------------------------------------
def _css(c: Rgba | None) -> str:
    if c is None:
        return "none"
    return f"#{c[0]:02x}{c[1]:02x}{c[2]:02x}" + ("" if c[3] == 255 else f"{c[3]:02x}")


def svg(state: str) -> str:
    """The icon of `state` as a standalone SVG document (64 x 64 user units)."""
    parts, cuts = [], []
    for s in shapes(state):
        paint = f'fill="{_css(s.fill)}" stroke="{_css(s.stroke)}" stroke-width="{s.width:g}"'
        x0, y0, x1, y1 = s.box[:4]
        if s.stroke is not None and s.kind != "polyline":
            # Pillow strokes inside the box, SVG on the outline: inset by half a stroke.
            h = s.width / 2
            x0, y0, x1, y1 = x0 + h, y0 + h, x1 - h, y1 - h
        if s.kind == "rrect":
            parts.append(f'<rect x="{x0:g}" y="{y0:g}" width="{x1 - x0:g}" height="{y1 - y0:g}" '
                         f'rx="{s.radius:g}" {paint}/>')
        elif s.kind == "ellipse":
            parts.append(f'<ellipse cx="{(x0 + x1) / 2:g}" cy="{(y0 + y1) / 2:g}" '
                         f'rx="{(x1 - x0) / 2:g}" ry="{(y1 - y0) / 2:g}" {paint}/>')
        elif s.kind == "polyline":
            pts = " ".join(f"{s.box[i]:g},{s.box[i + 1]:g}" for i in range(0, len(s.box), 2))
            parts.append(f'<polyline points="{pts}" fill="none" stroke="{_css(s.stroke)}" '
                         f'stroke-width="{s.width:g}" stroke-linecap="round" '
                         f'stroke-linejoin="round"/>')
        elif s.kind == "cut":
            cuts.append(f'<ellipse cx="{(x0 + x1) / 2:g}" cy="{(y0 + y1) / 2:g}" '
                        f'rx="{(x1 - x0) / 2:g}" ry="{(y1 - y0) / 2:g}" fill="black"/>')
    mask = ('<mask id="m"><rect width="64" height="64" fill="white"/>'
            + "".join(cuts) + "</mask>") if cuts else ""
    group = '<g mask="url(#m)">' if cuts else "<g>"
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" '
            f'viewBox="0 0 64 64"><defs>{mask}</defs>{group}'
            + "".join(parts) + "</g></svg>\n")


# -- Pillow ---------------------------------------------------------------------------
def _draw(state: str, size: int) -> Image.Image:
    s = size * _SS
    u = s / 64.0
    img = Image.new("RGBA", (s, s), _CLEAR)
    d = ImageDraw.Draw(img)
    for sh in shapes(state):
        box = [v * u for v in sh.box]
        width = max(1, round(sh.width * u)) if sh.width else 0
        if sh.kind == "rrect":
            d.rounded_rectangle(box, radius=sh.radius * u, fill=sh.fill,
                                outline=sh.stroke, width=width)
        elif sh.kind == "ellipse":
            d.ellipse(box, fill=sh.fill, outline=sh.stroke, width=width)
        elif sh.kind == "polyline":
            d.line([(box[i], box[i + 1]) for i in range(0, len(box), 2)], fill=sh.stroke,
                   width=width, joint="curve")
        elif sh.kind == "cut":
            hole = Image.new("L", (s, s), 0)
            ImageDraw.Draw(hole).ellipse(box, fill=255)
            img.paste(_CLEAR, (0, 0), hole)
    return img.resize((size, size), Image.LANCZOS)


@lru_cache(maxsize=64)
def _cached(state: str, size: int) -> Image.Image:
    return _draw(state, size)


def render_icon(state: str, size: int = 64) -> Image.Image:
    """An RGBA image of the token in `state` (a copy: callers may draw on it)."""
    _check_state(state)
    if not 8 <= size <= 1024:
        raise ValueError(f"icon size {size} out of range 8..1024")
    return _cached(state, size).copy()


def png(state: str, size: int) -> bytes:
    out = io.BytesIO()
    render_icon(state, size).save(out, "PNG")
    return out.getvalue()


# -- the hicolor theme -------------------------------------------------------------------
def theme_files() -> dict[str, tuple[str, int | None]]:
    """Relative path under an icon-theme root → (state, size or None for SVG)."""
    out: dict[str, tuple[str, int | None]] = {}
    named = [(NAMES[s], s) for s in STATES] + [(APP_ICON, "present")]
    for name, state in named:
        out[f"hicolor/scalable/apps/{name}.svg"] = (state, None)
        for size in SIZES:
            out[f"hicolor/{size}x{size}/apps/{name}.png"] = (state, size)
    return out


def write_theme(root: Path) -> list[Path]:
    """Write every icon under `root` (an icon-theme directory, e.g. /usr/share/icons).
    Files whose content is already right are left alone (no mtime churn)."""
    written = []
    for rel, (state, size) in theme_files().items():
        data = svg(state).encode() if size is None else png(state, size)
        path = root / rel
        try:
            if path.read_bytes() == data:
                continue
        except OSError:
            pass
        write_atomic(path, data, mode=0o644)
        written.append(path)
    return written


def installed_theme() -> Path | None:
    """The icon-theme root that has trayd's icons: the system's (a package install) or
    the checkout's build/icons; None when neither is complete."""
    probe = f"hicolor/scalable/apps/{NAMES['logged_in']}.svg"
    for root in (SYSTEM_THEME, CHECKOUT_THEME):
        if (root / probe).is_file():
            return root
    return None


_theme_lock = threading.Lock()


def ensure_theme() -> Path | None:
    """The theme root to use, building the checkout's one when it is missing (`make
    setup` refreshes it when the drawing changes).

    Returns None when there is nowhere to write (a broken install): callers then fall
    back to the theme's generic icons and say so."""
    root = installed_theme()
    if root is not None:
        return root
    with _theme_lock:  # two threads of one process may ask at once
        try:
            write_theme(CHECKOUT_THEME)
        except OSError:
            return installed_theme()
    return CHECKOUT_THEME


def theme_file(state: str, size: int = 48, root: Path | None = None) -> Path | None:
    """The PNG of `state` at `size` in the theme (for notification servers, which take a
    path or a name), or None if the theme is not there."""
    _check_state(state)
    root = root or installed_theme()
    if root is None:
        return None
    path = root / "hicolor" / f"{size}x{size}" / "apps" / f"{NAMES[state]}.png"
    return path if path.is_file() else None
