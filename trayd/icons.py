"""trayd's icons, drawn with Pillow alone: a USB token with a state badge.

Why drawn, not shipped: the tray (pystray wants a PIL image), the notifications (want a
file path) and the management window all need the same four states at several sizes;
drawing them keeps one source of truth and no binary assets in the repository. Shapes
are drawn at 4x and downscaled, which gives clean antialiased edges at 16-256 px.

States: "none" (no token: grey, hollow), "present" (a token is inserted: blue),
"logged_in" (a user is logged in: blue with a green check badge), "error" (PIN locked
or the smart card service is down: blue-grey with a red "!" badge).
"""
from __future__ import annotations

import io
import os
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw

from trayd.files import write_atomic

STATES = ("none", "present", "logged_in", "error")

_BODY = {"none": (150, 150, 150, 255), "present": (33, 102, 196, 255),
         "logged_in": (33, 102, 196, 255), "error": (96, 110, 130, 255)}
_METAL = (205, 208, 214, 255)
_DARK = (40, 44, 52, 255)
_BADGE = {"logged_in": (46, 160, 67, 255), "error": (214, 48, 49, 255)}
_SS = 4  # supersampling factor


def _check_state(state: str) -> None:
    if state not in STATES:
        raise ValueError(f"unknown icon state {state!r}; expected one of {', '.join(STATES)}")


def _draw(state: str, size: int) -> Image.Image:
    s = size * _SS
    u = s / 64.0  # drawing unit: the design grid is 64 x 64
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    hollow = state == "none"
    body = _BODY[state]

    def box(x0: float, y0: float, x1: float, y1: float) -> list[float]:
        return [x0 * u, y0 * u, x1 * u, y1 * u]

    # The token stands upright: USB plug on top, body below, key-ring hole at the bottom.
    # Plug (metal shell with two contact windows).
    d.rounded_rectangle(box(22, 3, 42, 21), radius=2 * u, fill=_METAL,
                        outline=_DARK, width=max(1, round(1.5 * u)))
    d.rectangle(box(26, 8, 30, 12), fill=_DARK)
    d.rectangle(box(34, 8, 38, 12), fill=_DARK)
    # Body.
    line = max(1, round(3 * u))
    if hollow:
        d.rounded_rectangle(box(15, 19, 49, 61), radius=9 * u, fill=(235, 235, 235, 255),
                            outline=body, width=line)
    else:
        d.rounded_rectangle(box(15, 19, 49, 61), radius=9 * u, fill=body,
                            outline=_DARK, width=max(1, round(1.5 * u)))
        # A light stripe: the token's label area.
        d.rounded_rectangle(box(21, 27, 43, 33), radius=2 * u, fill=(255, 255, 255, 200))
    # Key-ring hole.
    d.ellipse(box(28.5, 48, 35.5, 55), fill=(0, 0, 0, 0),
              outline=body if hollow else _DARK, width=max(1, round(2 * u)))
    # Cut the hole through (transparent).
    hole = Image.new("L", (s, s), 0)
    ImageDraw.Draw(hole).ellipse(box(30, 49.5, 34, 53.5), fill=255)
    img.paste((0, 0, 0, 0), (0, 0), hole)

    # Badge, bottom right, over the body.
    if state in _BADGE:
        d.ellipse(box(36, 36, 63, 63), fill=_BADGE[state], outline=(255, 255, 255, 255),
                  width=max(1, round(2.5 * u)))
        white = (255, 255, 255, 255)
        if state == "logged_in":
            d.line([(42 * u, 50 * u), (47.5 * u, 55.5 * u), (56.5 * u, 44 * u)], fill=white,
                   width=max(1, round(4 * u)), joint="curve")
        else:
            d.rounded_rectangle(box(47.5, 41, 51.5, 52.5), radius=1.5 * u, fill=white)
            d.ellipse(box(47.3, 54.5, 51.7, 58.9), fill=white)
    return img.resize((size, size), Image.LANCZOS)


@lru_cache(maxsize=32)
def _cached(state: str, size: int) -> Image.Image:
    return _draw(state, size)


def render_icon(state: str, size: int = 64) -> Image.Image:
    """An RGBA image of the token in `state` (a copy: callers may draw on it)."""
    _check_state(state)
    if not 8 <= size <= 1024:
        raise ValueError(f"icon size {size} out of range 8..1024")
    return _cached(state, size).copy()


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "trayd" / "icons"


def icon_file(state: str, size: int = 64) -> Path:
    """A PNG of the icon under `$XDG_CACHE_HOME/trayd/icons/` (written once, then reused).

    Why a file: notification servers and AppIndicator take icon *paths*, not pixels.
    """
    _check_state(state)
    path = cache_dir() / f"trayd-{state}-{size}.png"
    if not path.exists():
        png = io.BytesIO()
        render_icon(state, size).save(png, "PNG")
        write_atomic(path, png.getvalue(), mode=0o644)
    return path
