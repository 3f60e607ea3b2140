"""Charts drawn as SVG text on the server, so a page shows them with nothing loaded from outside.

A `Chart` maps data to a fixed canvas with labelled axes; series, bars and reference lines are
added in data units, then `svg()` writes the drawing. Small on purpose: lines, steps, bars,
horizontal and vertical marks, and a legend are what the live view's plots need.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

WIDTH, HEIGHT = 640, 360
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 28, 48
COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c")

Point = tuple[float, float]


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round values between low and high, for axis labels."""
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = (low // step) * step
    return [first + n * step for n in range(count + 3) if low <= first + n * step <= high]


def _label(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 or value == int(value) else f"{value:.3g}"


@dataclass
class Chart:
    """A canvas over x_range by y_range with a title and axis names."""

    title: str
    x_name: str
    y_name: str
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    x_labels: Sequence[tuple[float, str]] = ()
    _marks: list[str] = field(default_factory=list)
    _legend: list[tuple[str, str, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        self.x_range = (x0, x1 if x1 > x0 else x0 + 1)
        self.y_range = (y0, y1 if y1 > y0 else y0 + 1)

    def _x(self, x: float) -> float:
        low, high = self.x_range
        return _LEFT + (x - low) / (high - low) * (WIDTH - _LEFT - _RIGHT)

    def _y(self, y: float) -> float:
        low, high = self.y_range
        return HEIGHT - _BOTTOM - (y - low) / (high - low) * (HEIGHT - _TOP - _BOTTOM)

    def _path(self, points: Sequence[Point]) -> str:
        return " ".join(f"{self._x(x):.1f},{self._y(y):.1f}" for x, y in points)

    def line(self, name: str, points: Sequence[Point], colour: int = 0, dots: bool = False) -> None:
        """A series joined point to point (dots mark each value when there are few)."""
        stroke = COLOURS[colour % len(COLOURS)]
        self._marks.append(
            f'<polyline fill="none" stroke="{stroke}" stroke-width="2" '
            f'points="{self._path(points)}"/>'
        )
        if dots:
            self._marks += [
                f'<circle cx="{self._x(x):.1f}" cy="{self._y(y):.1f}" r="3" fill="{stroke}"/>'
                for x, y in points
            ]
        self._legend.append((name, stroke, False))

    def steps(self, name: str, points: Sequence[Point], end: float, colour: int = 0) -> None:
        """A series holding each value until the next one (a slot's value lasts its slot)."""
        held = [
            corner
            for (x, y), (next_x, _) in zip(points, [*points[1:], (end, 0.0)], strict=True)
            for corner in ((x, y), (next_x, y))
        ]
        self.line(name, held, colour)

    def bar(self, x_from: float, x_to: float, y: float, colour: int, title: str) -> None:
        """A bar from the x axis's zero to y, over [x_from, x_to]."""
        top, bottom = sorted((self._y(y), self._y(max(self.y_range[0], 0.0))))
        self._marks.append(
            f'<rect x="{self._x(x_from):.1f}" y="{top:.1f}" '
            f'width="{max(self._x(x_to) - self._x(x_from) - 1, 1):.1f}" '
            f'height="{max(bottom - top, 1):.1f}" fill="{COLOURS[colour % len(COLOURS)]}" '
            f'fill-opacity="0.6"><title>{escape(title)}</title></rect>'
        )

    def horizontal(self, name: str, y: float, colour: int) -> None:
        stroke = COLOURS[colour % len(COLOURS)]
        self._marks.append(
            f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{self._y(y):.1f}" '
            f'y2="{self._y(y):.1f}" stroke="{stroke}" stroke-width="2" stroke-dasharray="6 4"/>'
        )
        self._legend.append((name, stroke, True))

    def vertical(self, name: str, x: float, colour: int) -> None:
        stroke = COLOURS[colour % len(COLOURS)]
        self._marks.append(
            f'<line x1="{self._x(x):.1f}" x2="{self._x(x):.1f}" y1="{_TOP}" '
            f'y2="{HEIGHT - _BOTTOM}" stroke="{stroke}" stroke-width="2" stroke-dasharray="2 3"/>'
        )
        self._legend.append((name, stroke, True))

    def _axes(self) -> list[str]:
        x_axis, y_axis = HEIGHT - _BOTTOM, _LEFT
        parts = [
            f'<line x1="{y_axis}" x2="{WIDTH - _RIGHT}" y1="{x_axis}" y2="{x_axis}" '
            'stroke="#444"/>',
            f'<line x1="{y_axis}" x2="{y_axis}" y1="{_TOP}" y2="{x_axis}" stroke="#444"/>',
        ]
        for y in _ticks(*self.y_range):
            parts.append(
                f'<text x="{y_axis - 6}" y="{self._y(y) + 4:.1f}" text-anchor="end">'
                f"{_label(y)}</text>"
                f'<line x1="{y_axis}" x2="{WIDTH - _RIGHT}" y1="{self._y(y):.1f}" '
                f'y2="{self._y(y):.1f}" stroke="#eee"/>'
            )
        labels = self.x_labels or [(x, _label(x)) for x in _ticks(*self.x_range)]
        parts += [
            f'<text x="{self._x(x):.1f}" y="{x_axis + 16}" text-anchor="middle">'
            f"{escape(text)}</text>"
            for x, text in labels
        ]
        parts.append(
            f'<text x="{(WIDTH + _LEFT) / 2}" y="{HEIGHT - 8}" text-anchor="middle">'
            f"{escape(self.x_name)}</text>"
            f'<text transform="translate(14 {(HEIGHT - _BOTTOM + _TOP) / 2}) rotate(-90)" '
            f'text-anchor="middle">{escape(self.y_name)}</text>'
        )
        return parts

    def _legend_marks(self) -> list[str]:
        parts = []
        for n, (name, stroke, dashed) in enumerate(self._legend):
            x, y = WIDTH - _RIGHT - 180, _TOP + 6 + 16 * n
            dash = ' stroke-dasharray="6 4"' if dashed else ""
            parts.append(
                f'<line x1="{x}" x2="{x + 20}" y1="{y}" y2="{y}" stroke="{stroke}" '
                f'stroke-width="2"{dash}/><text x="{x + 26}" y="{y + 4}">{escape(name)}</text>'
            )
        return parts

    def svg(self) -> str:
        body = "\n".join([*self._axes(), *self._marks, *self._legend_marks()])
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">\n'
            f"<title>{escape(self.title)}</title>\n"
            f'<text x="{_LEFT}" y="18" font-size="14" font-weight="bold">'
            f"{escape(self.title)}</text>\n"
            f"{body}\n</svg>\n"
        )


def empty(title: str, reason: str) -> str:
    """A drawing that says why there is nothing to plot, instead of a broken image."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="14">'
        f"<title>{escape(title)}</title>"
        f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
        f"{escape(reason)}</text></svg>\n"
    )
