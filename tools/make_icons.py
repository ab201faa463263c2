"""Draw Sciatica Coach's icons: the skill's (Alexa: 108 and 512 px) and the watch face's (PWA).

Run from the repository root after changing the design, and commit the PNGs it writes:

    python -m tools.make_icons

The design: a person lying on their back with one knee drawn up across the body (the
piriformis stretch the routine holds), a ball under the hip (the release before it), and a
ring round them for the 30-second hold the watch counts. Drawn at four times the size and
scaled down, so edges are smooth at every size; the maskable variant keeps the figure inside
the safe zone (the inner 80%) that a launcher may crop to a circle.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
SKILL_ICONS = REPO / "sciatica_coach" / "site" / "static" / "icons"
FACE_ICONS = REPO / "wearable" / "face" / "static" / "icons"

BACKGROUND = (18, 74, 84)
RING = (94, 196, 182)
FIGURE = (244, 241, 232)
BALL = (242, 158, 76)
SUPERSAMPLE = 4
CANVAS = 1024


def _draw(canvas: int, scale: float) -> Image.Image:
    """The design on a square canvas, the figure scaled about the centre (1.0 fills the icon)."""
    image = Image.new("RGBA", (canvas, canvas), (*BACKGROUND, 255))
    pen = ImageDraw.Draw(image)

    def at(x: float, y: float) -> tuple[float, float]:
        """A point of the 1024-unit design, on this canvas and scale."""
        centre = canvas / 2
        unit = canvas / CANVAS
        return centre + (x - CANVAS / 2) * unit * scale, centre + (y - CANVAS / 2) * unit * scale

    def width(units: float) -> int:
        return max(1, round(units * canvas / CANVAS * scale))

    def line(points: Iterable[tuple[float, float]], units: float, colour: tuple[int, ...]) -> None:
        placed = [at(x, y) for x, y in points]
        pen.line(placed, fill=colour, width=width(units), joint="curve")
        radius = width(units) / 2
        for x, y in (placed[0], placed[-1]):
            pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)

    def disc(x: float, y: float, radius: float, colour: tuple[int, ...]) -> None:
        cx, cy = at(x, y)
        r = radius * canvas / CANVAS * scale
        pen.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)

    # The hold ring: most of a circle, its gap the seconds still to go.
    left, top = at(152, 152)
    right, bottom = at(872, 872)
    pen.arc((left, top, right, bottom), start=-60, end=230, fill=RING, width=width(44))

    floor_y = 640
    disc(420, floor_y + 14, 58, BALL)  # the ball under the hip
    line([(300, floor_y - 40), (430, floor_y - 52)], 62, FIGURE)  # back and shoulders
    disc(258, floor_y - 48, 50, FIGURE)  # head
    line([(430, floor_y - 52), (640, floor_y - 40), (780, floor_y - 10)], 56, FIGURE)  # long leg
    line([(440, floor_y - 60), (560, floor_y - 230), (500, floor_y - 300)], 56, FIGURE)  # knee up
    line([(330, floor_y - 60), (470, floor_y - 250)], 40, FIGURE)  # arm drawing the knee in
    return image


def render(size: int, *, maskable: bool = False) -> Image.Image:
    """One icon, `size` pixels square, opaque RGB as Alexa and launchers both accept."""
    big = _draw(size * SUPERSAMPLE, 0.78 if maskable else 1.0)
    return big.resize((size, size), Image.Resampling.LANCZOS).convert("RGB")


def icons() -> dict[Path, Image.Image]:
    """Every icon the product serves, by the path it is committed at."""
    return {
        SKILL_ICONS / "icon-108.png": render(108),
        SKILL_ICONS / "icon-512.png": render(512),
        FACE_ICONS / "icon-192.png": render(192),
        FACE_ICONS / "icon-512.png": render(512),
        FACE_ICONS / "icon-maskable-512.png": render(512, maskable=True),
    }


def main(argv: list[str] | None = None) -> int:
    """Write every icon; PNG metadata is left out so the same design gives the same bytes."""
    del argv
    for path, image in icons().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, format="PNG", optimize=True)
        print(f"{path.relative_to(REPO)}: {image.width}x{image.height}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
