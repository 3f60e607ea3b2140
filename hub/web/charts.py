"""Charts drawn as SVG text on the server, so a page shows them with nothing loaded from outside.

A `Chart` maps data to a plot area with labelled axes; series, bars and reference lines are
added in data units, then `svg()` writes the drawing. Small on purpose: lines, steps, bars,
horizontal and vertical marks, and a legend are what the live view's plots need.

The legend lies in a band of its own under the axes, never on the data: its entries run left to
right and wrap, and the canvas grows by a row for each wrap, so no entry covers another.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

WIDTH = 640
_LEFT, _RIGHT, _TOP = 64, 24, 28
_PLOT_BOTTOM = 312
"""The plot area spans x from _LEFT to WIDTH - _RIGHT and y from _TOP to _PLOT_BOTTOM."""
_AXIS_BAND = 48
"""Under the plot area: the x axis's tick labels and its name."""
HEIGHT = _PLOT_BOTTOM + _AXIS_BAND
"""The canvas's height without a legend."""
COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c")

FONT = 11
GLYPH = 0.65
"""A generous width of one character, in ems of its font size, for a sans-serif face: text is
laid out by it, so an estimate too small would let entries touch."""
_SWATCH, _SWATCH_GAP, _ENTRY_GAP, _ROW = 20, 6, 16, 16
_DASHES = {"solid": "", "dashed": "6 4", "dotted": "2 3"}

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


def _text(
    x: float, y: float, text: str, room: float, size: int = FONT, attributes: str = ""
) -> str:
    """A text element, squeezed to `room` wide when it would be wider (a long identifier)."""
    fit = (
        f' textLength="{room:.1f}" lengthAdjust="spacingAndGlyphs"'
        if len(text) * size * GLYPH > room
        else ""
    )
    return f'<text x="{x:.1f}" y="{y:.1f}"{attributes}{fit}>{escape(text)}</text>'


def _dash(style: str) -> str:
    return f' stroke-dasharray="{_DASHES[style]}"' if _DASHES.get(style) else ""


@dataclass
class _Entry:
    """One legend entry: a swatch in the mark's colour and style, and its name."""

    name: str
    colour: str
    style: str  # "solid", "dashed", "dotted" (a line) or "box" (a bar)

    @property
    def width(self) -> float:
        return _SWATCH + _SWATCH_GAP + len(self.name) * FONT * GLYPH

    def svg(self, x: float, baseline: float) -> str:
        middle = baseline - FONT / 3
        swatch = (
            f'<rect x="{x:.1f}" y="{middle - 5:.1f}" width="{_SWATCH}" height="10" '
            f'fill="{self.colour}" fill-opacity="0.6"/>'
            if self.style == "box"
            else f'<line x1="{x:.1f}" x2="{x + _SWATCH:.1f}" y1="{middle:.1f}" y2="{middle:.1f}" '
            f'stroke="{self.colour}" stroke-width="2"{_dash(self.style)}/>'
        )
        start = x + _SWATCH + _SWATCH_GAP
        name = _text(start, baseline, self.name, WIDTH - _RIGHT - start)
        return f'<g class="legend-entry">{swatch}{name}</g>'


def _legend_places(entries: Sequence[_Entry]) -> list[tuple[float, int]]:
    """Where each entry starts and on which row: a row breaks where the next entry would
    cross the canvas's right edge."""
    places, x, row = [], float(_LEFT), 0
    for entry in entries:
        if x > _LEFT and x + entry.width > WIDTH - _RIGHT:
            x, row = float(_LEFT), row + 1
        places.append((x, row))
        x += entry.width + _ENTRY_GAP
    return places


@dataclass
class Chart:
    """A plot area over x_range by y_range with a title and axis names."""

    title: str
    x_name: str
    y_name: str
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    x_labels: Sequence[tuple[float, str]] = ()
    _marks: list[str] = field(default_factory=list)
    _legend: list[_Entry] = field(default_factory=list)

    def __post_init__(self) -> None:
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        self.x_range = (x0, x1 if x1 > x0 else x0 + 1)
        self.y_range = (y0, y1 if y1 > y0 else y0 + 1)

    def _x(self, x: float) -> float:
        low, high = self.x_range
        return _LEFT + (x - low) / (high - low) * (WIDTH - _LEFT - _RIGHT)

    def _y(self, y: float) -> float:
        low, high = self.y_range
        return _PLOT_BOTTOM - (y - low) / (high - low) * (_PLOT_BOTTOM - _TOP)

    def _path(self, points: Sequence[Point]) -> str:
        return " ".join(f"{self._x(x):.1f},{self._y(y):.1f}" for x, y in points)

    def _key(self, name: str, colour: int, style: str) -> str:
        """The colour of a mark, with its legend entry added once per name."""
        stroke = COLOURS[colour % len(COLOURS)]
        if name not in {entry.name for entry in self._legend}:
            self._legend.append(_Entry(name, stroke, style))
        return stroke

    def line(self, name: str, points: Sequence[Point], colour: int = 0, dots: bool = False) -> None:
        """A series joined point to point (dots mark each value when there are few)."""
        stroke = self._key(name, colour, "solid")
        self._marks.append(
            f'<polyline fill="none" stroke="{stroke}" stroke-width="2" '
            f'points="{self._path(points)}"/>'
        )
        if dots:
            self._marks += [
                f'<circle cx="{self._x(x):.1f}" cy="{self._y(y):.1f}" r="3" fill="{stroke}"/>'
                for x, y in points
            ]

    def steps(self, name: str, points: Sequence[Point], end: float, colour: int = 0) -> None:
        """A series holding each value until the next one (a slot's value lasts its slot)."""
        held = [
            corner
            for (x, y), (next_x, _) in zip(points, [*points[1:], (end, 0.0)], strict=True)
            for corner in ((x, y), (next_x, y))
        ]
        self.line(name, held, colour)

    def bar(self, name: str, x_from: float, x_to: float, y: float, colour: int, title: str) -> None:
        """A bar from the x axis's zero to y, over [x_from, x_to]; `name` is its legend entry,
        shared by bars of one kind, and `title` the bar's own tooltip."""
        fill = self._key(name, colour, "box")
        top, bottom = sorted((self._y(y), self._y(max(self.y_range[0], 0.0))))
        self._marks.append(
            f'<rect x="{self._x(x_from):.1f}" y="{top:.1f}" '
            f'width="{max(self._x(x_to) - self._x(x_from) - 1, 1):.1f}" '
            f'height="{max(bottom - top, 1):.1f}" fill="{fill}" '
            f'fill-opacity="0.6"><title>{escape(title)}</title></rect>'
        )

    def horizontal(self, name: str, y: float, colour: int) -> None:
        stroke = self._key(name, colour, "dashed")
        self._marks.append(
            f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{self._y(y):.1f}" '
            f'y2="{self._y(y):.1f}" stroke="{stroke}" stroke-width="2"{_dash("dashed")}/>'
        )

    def vertical(self, name: str, x: float, colour: int) -> None:
        stroke = self._key(name, colour, "dotted")
        self._marks.append(
            f'<line x1="{self._x(x):.1f}" x2="{self._x(x):.1f}" y1="{_TOP}" '
            f'y2="{_PLOT_BOTTOM}" stroke="{stroke}" stroke-width="2"{_dash("dotted")}/>'
        )

    def _axes(self) -> list[str]:
        parts = [
            f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{_PLOT_BOTTOM}" y2="{_PLOT_BOTTOM}" '
            'stroke="#444"/>',
            f'<line x1="{_LEFT}" x2="{_LEFT}" y1="{_TOP}" y2="{_PLOT_BOTTOM}" stroke="#444"/>',
        ]
        for y in _ticks(*self.y_range):
            grid = "#444" if y == 0 else "#eee"  # zero stands out where values change sign
            parts.append(
                f'<text x="{_LEFT - 6}" y="{self._y(y) + 4:.1f}" text-anchor="end">'
                f"{_label(y)}</text>"
                f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{self._y(y):.1f}" '
                f'y2="{self._y(y):.1f}" stroke="{grid}"/>'
            )
        labels = self.x_labels or [(x, _label(x)) for x in _ticks(*self.x_range)]
        parts += [
            f'<text x="{self._x(x):.1f}" y="{_PLOT_BOTTOM + 16}" text-anchor="middle">'
            f"{escape(text)}</text>"
            for x, text in labels
        ]
        parts.append(
            f'<text x="{(WIDTH + _LEFT) / 2}" y="{HEIGHT - 8}" text-anchor="middle">'
            f"{escape(self.x_name)}</text>"
            f'<text transform="translate(14 {(_PLOT_BOTTOM + _TOP) / 2}) rotate(-90)" '
            f'text-anchor="middle">{escape(self.y_name)}</text>'
        )
        return parts

    def _legend_band(self) -> tuple[str, int]:
        """The legend under the axes, and the rows it takes."""
        places = _legend_places(self._legend)
        entries = [
            entry.svg(x, HEIGHT + _ROW * row + 12)
            for entry, (x, row) in zip(self._legend, places, strict=True)
        ]
        rows = places[-1][1] + 1 if places else 0
        return f'<g class="legend">{"".join(entries)}</g>', rows

    def svg(self) -> str:
        legend, rows = self._legend_band()
        height = HEIGHT + (_ROW * rows + 4 if rows else 0)
        area = (
            f'x="{_LEFT}" y="{_TOP}" width="{WIDTH - _LEFT - _RIGHT}" '
            f'height="{_PLOT_BOTTOM - _TOP}"'
        )
        body = "\n".join(
            [
                f'<clipPath id="plot-area"><rect {area}/></clipPath>',
                f'<rect class="plot-area" {area} fill="none"/>',
                *self._axes(),
                '<g class="marks" clip-path="url(#plot-area)">',
                *self._marks,
                "</g>",
                legend,
            ]
        )
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
            f'width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="{FONT}">\n'
            f"<title>{escape(self.title)}</title>\n"
            + _text(
                _LEFT,
                18,
                self.title,
                WIDTH - _RIGHT - _LEFT,
                14,
                ' font-size="14" font-weight="bold"',
            )
            + f"\n{body}\n</svg>\n"
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
