"""The drawn icons: every state, distinct, sizes, cached files."""
from __future__ import annotations

import pytest
from PIL import ImageChops

from trayd import icons


def test_every_state_renders_distinct_rgba_images():
    images = {s: icons.render_icon(s, 64) for s in icons.STATES}
    for state, im in images.items():
        assert im.mode == "RGBA" and im.size == (64, 64)
        alpha = im.getchannel("A")
        assert alpha.getpixel((0, 0)) == 0  # transparent corner: works on any panel
        assert 0.2 < sum(1 for a in alpha.tobytes() if a > 0) / 64 ** 2 < 0.9
    states = list(images)
    for i, a in enumerate(states):
        for b in states[i + 1:]:
            diff = ImageChops.difference(images[a].convert("RGB"), images[b].convert("RGB"))
            assert diff.getbbox(), (a, b)


def test_badges_mark_the_states():
    # logged_in has a green badge, error a red one (bottom right); present has none.
    def px(state):
        return icons.render_icon(state, 64).getpixel((56, 55))

    r, g, b, a = px("logged_in")
    assert g > r and g > b and a == 255
    r, g, b, a = px("error")
    assert r > g and r > b and a == 255


@pytest.mark.parametrize("size", [16, 22, 24, 32, 48, 128, 256])
def test_sizes(size):
    assert icons.render_icon("present", size).size == (size, size)


def test_bad_state_or_size():
    with pytest.raises(ValueError, match="unknown icon state"):
        icons.render_icon("sad")
    with pytest.raises(ValueError):
        icons.render_icon("none", 2)


def test_icon_file_is_written_once_under_xdg_cache(home):
    path = icons.icon_file("logged_in", 48)
    assert path == home / ".cache" / "trayd" / "icons" / "trayd-logged_in-48.png"
    from PIL import Image

    with Image.open(path) as im:
        assert im.size == (48, 48)
    mtime = path.stat().st_mtime_ns
    assert icons.icon_file("logged_in", 48) == path
    assert path.stat().st_mtime_ns == mtime


def test_render_returns_a_copy():
    a = icons.render_icon("none", 32)
    a.putpixel((0, 0), (1, 2, 3, 255))
    assert icons.render_icon("none", 32).getpixel((0, 0)) != (1, 2, 3, 255)
