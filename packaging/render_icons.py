"""Write trayd's hicolor icon theme at package build time (and for a checkout).

Why at build time: the icons are drawing data in `trayd.icons` (SVG + PNG at every size,
the tray's state icons trayd-no-token / trayd-token / trayd-token-logged-in /
trayd-token-error and the application icon trayd), so no binary image is kept in the
source tree and the package, the tray and the notifications show the same picture.

Usage: python render_icons.py HICOLOR_DIR   (e.g. debian/trayd/usr/share/icons/hicolor,
or build/icons/hicolor for a checkout)
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trayd.icons import write_theme  # noqa: E402


def render_all(hicolor: Path) -> list[Path]:
    if hicolor.name != "hicolor":
        raise SystemExit(f"render_icons: {hicolor} is not a hicolor directory")
    return write_theme(hicolor.parent)


if __name__ == "__main__":
    for path in render_all(Path(sys.argv[1])):
        print(path)
