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


def test_theme_has_every_name_at_every_size_and_as_svg(tmp_path):
    written = icons.write_theme(tmp_path)
    assert len(written) == len(icons.theme_files())
    from PIL import Image

    for name in [*icons.NAMES.values(), icons.APP_ICON]:
        svg = tmp_path / "hicolor" / "scalable" / "apps" / f"{name}.svg"
        assert svg.read_text().startswith("<svg ")
        for size in icons.SIZES:
            with Image.open(tmp_path / "hicolor" / f"{size}x{size}" / "apps" / f"{name}.png") as im:
                assert im.size == (size, size)
    # Unchanged files are not rewritten.
    assert icons.write_theme(tmp_path) == []
    assert icons.theme_file("error", 48, tmp_path).name == "trayd-token-error.png"


def test_svg_and_png_are_the_same_drawing(tmp_path):
    """The SVG (rendered by librsvg through GdkPixbuf, as hosts do) matches the PNG."""
    gi = pytest.importorskip("gi")
    gi.require_version("GdkPixbuf", "2.0")
    from gi.repository import GdkPixbuf
    from PIL import Image

    for state in icons.STATES:
        path = tmp_path / f"{state}.svg"
        path.write_text(icons.svg(state))
        pb = GdkPixbuf.Pixbuf.new_from_file_at_size(str(path), 64, 64)
        out = tmp_path / f"{state}.png"
        pb.savev(str(out), "png", [], [])
        white = Image.new("RGBA", (64, 64), (255, 255, 255, 255))
        a = Image.alpha_composite(white, Image.open(out).convert("RGBA")).convert("RGB")
        b = Image.alpha_composite(white, icons.render_icon(state, 64)).convert("RGB")
        diff = sum(abs(x - y) for x, y in zip(a.tobytes(), b.tobytes())) / (64 * 64 * 3)
        assert diff < 6, f"{state}: mean difference {diff:.1f} per channel"


def test_render_returns_a_copy():
    a = icons.render_icon("none", 32)
    a.putpixel((0, 0), (1, 2, 3, 255))
    assert icons.render_icon("none", 32).getpixel((0, 0)) != (1, 2, 3, 255)
