"""Render trayd's application icon into a hicolor icon theme tree at package build time.

Why at build time: the icons are drawn in code (`trayd.icons.render_icon(state, size)`,
Pillow), so the desktop entry and the notifications use the same picture as the tray,
and no binary image has to be kept in the source tree. Without `trayd.icons` (or if it
fails) a plain token drawing is used, so the package build never depends on the tray code.

Usage: python render_icons.py HICOLOR_DIR   (e.g. debian/trayd/usr/share/icons/hicolor)
"""
from __future__ import annotations

import sys
from pathlib import Path

SIZES = (16, 22, 24, 32, 48, 64, 128, 256)
STATES = ("present", "none")  # trayd.icons.STATES: the token as inserted


def _from_trayd(size: int):
    try:
        from trayd.icons import render_icon
    except Exception:  # noqa: BLE001  (no tray code yet: use the fallback)
        return None
    for state in STATES:
        try:
            image = render_icon(state, size)
        except Exception:  # noqa: BLE001
            continue
        if image is not None:
            return image.convert("RGBA").resize((size, size))
    return None


def _fallback(size: int):
    """A USB token: dark body, gold contact, white key hole."""
    from PIL import Image, ImageDraw

    scale = 4
    s = size * scale
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((s * 0.28, s * 0.06, s * 0.72, s * 0.72), radius=s * 0.08,
                        fill=(32, 72, 140, 255))
    d.rectangle((s * 0.36, s * 0.72, s * 0.64, s * 0.94), fill=(212, 175, 55, 255))
    d.ellipse((s * 0.41, s * 0.22, s * 0.59, s * 0.40), fill=(255, 255, 255, 255))
    d.rectangle((s * 0.47, s * 0.36, s * 0.53, s * 0.56), fill=(255, 255, 255, 255))
    return img.resize((size, size), Image.LANCZOS)


def render_all(hicolor: Path) -> list[Path]:
    written = []
    for size in SIZES:
        image = _from_trayd(size) or _fallback(size)
        out = hicolor / f"{size}x{size}" / "apps" / "trayd.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        image.save(out, "PNG")
        written.append(out)
    return written


if __name__ == "__main__":
    for path in render_all(Path(sys.argv[1])):
        print(path)
