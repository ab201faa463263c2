"""A picture of one session: what the speaker said, when the wrist buzzed, where holds fell.

Plain SVG with no dependencies, so the demo can write it on any machine and a browser,
an editor or a code review can show it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from shared.routine.cues import CueKind

_BUZZ_COLOURS = {
    CueKind.HOLD_START: "#2b8a3e",
    CueKind.HOLD_WARNING: "#e8a317",
    CueKind.HOLD_END: "#c92a2a",
    CueKind.ROUTINE_COMPLETE: "#5f3dc4",
}
_WIDTH = 1200
_MARGIN_LEFT = 90
_MARGIN_RIGHT = 20
_LANE_SPEECH_Y = 60
_LANE_WRIST_Y = 150
_HEIGHT = 240


@dataclass(frozen=True, slots=True)
class Spoken:
    start: float
    end: float
    text: str


@dataclass(frozen=True, slots=True)
class Buzz:
    at: float
    kind: CueKind
    error_ms: float | None = None


@dataclass
class Timeline:
    """Times are seconds from any origin; the picture starts at the earliest one."""

    spoken: list[Spoken] = field(default_factory=list)
    holds: list[tuple[float, float]] = field(default_factory=list)
    buzzes: list[Buzz] = field(default_factory=list)

    def span(self) -> tuple[float, float]:
        times = [t for s in self.spoken for t in (s.start, s.end)]
        times += [t for hold in self.holds for t in hold] + [b.at for b in self.buzzes]
        if not times:
            return 0.0, 1.0
        return min(times), max(max(times), min(times) + 1.0)


def render_svg(timeline: Timeline, title: str = "Sciatica Coach session") -> str:
    """Speech on one lane, buzzes on another, holds shaded across both."""
    first, last = timeline.span()
    scale = (_WIDTH - _MARGIN_LEFT - _MARGIN_RIGHT) / (last - first)

    def x(t: float) -> float:
        return _MARGIN_LEFT + (t - first) * scale

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
        f'viewBox="0 0 {_WIDTH} {_HEIGHT}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        '<rect width="100%" height="100%" fill="#ffffff"/>',
        f'<text x="{_MARGIN_LEFT}" y="20" font-size="15" font-weight="bold">{escape(title)}</text>',
    ]
    for start, end in timeline.holds:
        parts.append(
            f'<rect x="{x(start):.1f}" y="35" width="{max(1.0, x(end) - x(start)):.1f}" '
            f'height="{_LANE_WRIST_Y - 5:.0f}" fill="#d0ebff" opacity="0.6">'
            f"<title>hold {end - start:.1f} s</title></rect>"
        )
    parts += [
        f'<text x="10" y="{_LANE_SPEECH_Y + 5}">speaker</text>',
        f'<text x="10" y="{_LANE_WRIST_Y + 5}">wrist</text>',
    ]
    for spoken in timeline.spoken:
        width = max(2.0, x(spoken.end) - x(spoken.start))
        parts.append(
            f'<rect x="{x(spoken.start):.1f}" y="{_LANE_SPEECH_Y - 12}" width="{width:.1f}" '
            f'height="24" rx="3" fill="#495057"><title>{escape(spoken.text)}</title></rect>'
        )
    for buzz in timeline.buzzes:
        colour = _BUZZ_COLOURS.get(buzz.kind, "#000000")
        label = buzz.kind.value
        if buzz.error_ms is not None:
            label += f" ({buzz.error_ms:+.0f} ms from the spoken end)"
        parts.append(
            f'<circle cx="{x(buzz.at):.1f}" cy="{_LANE_WRIST_Y}" r="7" fill="{colour}">'
            f"<title>{escape(label)}</title></circle>"
        )
    axis_y = _HEIGHT - 40
    parts.append(
        f'<line x1="{_MARGIN_LEFT}" y1="{axis_y}" x2="{_WIDTH - _MARGIN_RIGHT}" '
        f'y2="{axis_y}" stroke="#868e96"/>'
    )
    step = _tick_step(last - first)
    tick = 0.0
    while first + tick <= last:
        tx = x(first + tick)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{axis_y}" x2="{tx:.1f}" y2="{axis_y + 5}" stroke="#868e96"/>'
            f'<text x="{tx:.1f}" y="{axis_y + 18}" text-anchor="middle">{tick:g} s</text>'
        )
        tick += step
    legend_x = _MARGIN_LEFT
    for kind, colour in _BUZZ_COLOURS.items():
        parts.append(
            f'<circle cx="{legend_x}" cy="{_HEIGHT - 10}" r="5" fill="{colour}"/>'
            f'<text x="{legend_x + 10}" y="{_HEIGHT - 6}">{kind.value}</text>'
        )
        legend_x += 150
    parts.append(
        f'<rect x="{legend_x}" y="{_HEIGHT - 16}" width="14" height="12" fill="#d0ebff"/>'
        f'<text x="{legend_x + 20}" y="{_HEIGHT - 6}">hold</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _tick_step(span: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if span / step <= 12:
            return float(step)
    return 1200.0


def write_svg(timeline: Timeline, path: str | Path, title: str = "Sciatica Coach session") -> Path:
    path = Path(path)
    path.write_text(render_svg(timeline, title), "utf-8")
    return path
