"""The committed icons are the script's drawing, at the sizes Alexa and browsers ask for."""

from __future__ import annotations

import pytest
from PIL import Image, ImageChops, ImageStat

from tools import make_icons

ICONS = make_icons.icons()


@pytest.mark.parametrize("path", sorted(ICONS), ids=lambda path: path.name)
def test_each_committed_icon_is_an_opaque_square_png_of_its_size(path) -> None:
    with Image.open(path) as committed:
        assert committed.format == "PNG"
        assert committed.mode == "RGB"
        assert committed.size == ICONS[path].size


@pytest.mark.parametrize("path", sorted(ICONS), ids=lambda path: path.name)
def test_each_committed_icon_is_what_the_script_draws_today(path) -> None:
    # A Pillow release may round a few edge pixels differently; a changed design moves many.
    with Image.open(path) as committed:
        difference = ImageChops.difference(committed.convert("RGB"), ICONS[path])
    assert max(ImageStat.Stat(difference).mean) < 1.0


def test_the_skill_gets_108_and_512_and_the_face_192_512_and_a_maskable_512() -> None:
    sizes = {
        (path.parent.parent.parent.name, path.name): image.width for path, image in ICONS.items()
    }
    assert sizes == {
        ("site", "icon-108.png"): 108,
        ("site", "icon-512.png"): 512,
        ("face", "icon-192.png"): 192,
        ("face", "icon-512.png"): 512,
        ("face", "icon-maskable-512.png"): 512,
    }


def test_the_maskable_icon_keeps_its_figure_inside_the_safe_zone() -> None:
    # Outside the central 80% circle a launcher may crop, only background and ring may show.
    maskable = make_icons.render(512, maskable=True)
    figure = [
        (x, y)
        for x in range(0, 512, 4)
        for y in range(0, 512, 4)
        if maskable.getpixel((x, y)) in {make_icons.FIGURE, make_icons.BALL}
    ]
    assert figure
    assert all((x - 256) ** 2 + (y - 256) ** 2 < (0.4 * 512) ** 2 for x, y in figure)
