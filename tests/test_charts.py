"""The live view's plots as drawn: each plot with one and with many data points is a whole
drawing (finite numbers only, its marks inside the plot area, its legend in a band under the
axes with no entry on another), and says what its lines are. The browser test of the live view
checks the legend again with the glyphs a browser really draws."""

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from hub.model import message, pointmaps
from hub.storage.store import Store, open_store
from hub.web import figures
from hub.web.charts import FONT, GLYPH, Chart
from tests.conftest import EXAMPLES

SVG = "{http://www.w3.org/2000/svg}"
MANY = 60
Box = tuple[float, float, float, float]


def example(name: str, **changes: Any) -> dict[str, Any]:
    return {**json.loads((EXAMPLES / "valid" / f"{name}.json").read_text()), **changes}


def store_of(*documents: dict[str, Any]) -> Store:
    store = open_store("memory")
    for document in documents:
        store.put(message.parse(json.dumps(document).encode(), "application/json"))
    return store


def moment(start: str, minutes: float) -> str:
    return (datetime.fromisoformat(start) + timedelta(minutes=minutes)).isoformat()


def price_forecast(slots: int) -> str:
    start = "2026-11-26T16:00:00+02:00"
    store = store_of(
        example(
            "flexibility-market-price-forecast",
            end=moment(start, 15 * slots),
            timeStep="PT15M",
            slots=[{"index": n, "price": 60 + 7 * math.sin(n)} for n in range(slots)],
        )
    )
    return figures.price_forecast(store, "priceforecast-1")


def merit_order(offers: int) -> str:
    store = store_of(
        example("bid"),
        example("offer-list"),
        *(
            example(
                "offer",
                id=f"offer-{n}",
                power=5.0 + n,
                price={**example("offer")["price"], "amount": 80.0 + n},
            )
            for n in range(offers)
        ),
    )
    return figures.merit_order(store, "offerlist-1")


def delivery(slots: int) -> str:
    start = "2026-11-26T17:00:00+02:00"
    store = store_of(
        example("activation-notification"),
        example(
            "verification-notification",
            end=moment(start, 15 * slots),
            slots=[{"index": n, "power": -10.0 - n, "baseline": 85.0} for n in range(slots)],
        ),
    )
    return figures.delivery(store, "verification-1")


def readings(count: int) -> str:
    """A point's plot, its quantity known from the published example point map."""
    start = "2026-11-26T15:00:00+00:00"
    reading = example("measurement")["readings"][-1]
    store = store_of(
        example(
            "measurement",
            readings=[
                {**reading, "value": 50.0 + n, "time": moment(start, n)} for n in range(count)
            ],
        )
    )
    published = pointmaps.read([EXAMPLES / "pointmap.ttl"])
    store.publish_point_map(pointmaps.graph_of("example"), published)
    return figures.readings(store, "battery-1-soc", 500)


PLOTS: dict[str, Callable[[int], str]] = {
    "price forecast": price_forecast,
    "merit order": merit_order,
    "delivery": delivery,
    "readings": readings,
}
DRAWN = [("merit order", 0), *((name, count) for name in PLOTS for count in (1, MANY))]
"""Every plot with one and with many points; a bid without offers is the one empty plot that
is still a drawing, the other plots have nothing to draw without their message."""


def non_finite(element: ET.Element) -> list[str]:
    """NaN or infinity where a number was written, in an attribute or a label."""
    written = [*element.attrib.values(), element.text or ""]
    return [value for value in written if re.search(r"(?i)\b(nan|inf)\b", value)]


def box(element: ET.Element) -> Box:
    x, y = float(element.get("x", 0)), float(element.get("y", 0))
    return (x, y, x + float(element.get("width", 0)), y + float(element.get("height", 0)))


def plot_area(drawing: ET.Element) -> Box:
    return box(next(e for e in drawing.iter(f"{SVG}rect") if e.get("class") == "plot-area"))


def mark_points(element: ET.Element) -> list[tuple[float, float]]:
    """The corners of a mark, in the drawing's units."""
    if element.tag == f"{SVG}polyline":
        pairs = [pair.split(",") for pair in element.get("points", "").split()]
        return [(float(x), float(y)) for x, y in pairs]
    if element.tag == f"{SVG}circle":
        return [(float(element.get("cx", 0)), float(element.get("cy", 0)))]
    if element.tag == f"{SVG}line":
        return [(float(element.get(f"x{n}", 0)), float(element.get(f"y{n}", 0))) for n in (1, 2)]
    left, top, right, bottom = box(element)
    return [(left, top), (right, bottom)]


def legend_boxes(drawing: ET.Element) -> list[Box]:
    """Each legend entry's extent, its text as wide as the layout's own estimate of glyphs."""
    found = []
    for entry in drawing.iter(f"{SVG}g"):
        if entry.get("class") != "legend-entry":
            continue
        swatch, text = entry[0], entry[1]
        left = float(swatch.get("x", swatch.get("x1", 0)))
        baseline = float(text.get("y", 0))
        width = float(text.get("textLength", len(text.text or "") * FONT * GLYPH))
        found.append((left, baseline - FONT, float(text.get("x", 0)) + width, baseline + 3))
    return found


def overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize(("plot", "count"), DRAWN)
def test_a_plot_holds_only_finite_numbers(plot: str, count: int):
    drawing = ET.fromstring(PLOTS[plot](count))
    assert [bad for element in drawing.iter() for bad in non_finite(element)] == []


@pytest.mark.parametrize(("plot", "count"), DRAWN)
def test_a_plot_draws_its_marks_inside_the_plot_area(plot: str, count: int):
    drawing = ET.fromstring(PLOTS[plot](count))
    left, top, right, bottom = plot_area(drawing)
    marks = next(e for e in drawing.iter(f"{SVG}g") if e.get("class") == "marks")
    corners = [corner for mark in marks for corner in mark_points(mark)]
    assert corners
    assert all(left <= x <= right and top <= y <= bottom for x, y in corners)


@pytest.mark.parametrize(("plot", "count"), DRAWN)
def test_a_legend_lies_under_the_axes_inside_the_canvas_with_no_entry_on_another(
    plot: str, count: int
):
    drawing = ET.fromstring(PLOTS[plot](count))
    width, height = (float(n) for n in drawing.get("viewBox", "").split()[2:])
    *_, bottom = plot_area(drawing)
    entries = legend_boxes(drawing)
    assert entries
    assert all(
        top > bottom + 40 and right <= width and low <= height for _, top, right, low in entries
    )
    assert not any(overlap(a, b) for n, a in enumerate(entries) for b in entries[n + 1 :])


def test_a_legend_of_many_entries_wraps_and_the_canvas_grows_to_hold_it():
    chart = Chart("wide", "x", "y", (0, 1), (0, 1))
    for n in range(12):
        chart.horizontal(f"a reference line named at length {n}", n / 12, n)
    wrapped = ET.fromstring(chart.svg())
    rows = {top for _, top, _, _ in legend_boxes(wrapped)}
    assert len(rows) > 1
    assert max(low for *_, low in legend_boxes(wrapped)) <= float(wrapped.get("height", 0))


def test_the_merit_order_legend_names_the_offers_and_the_bid():
    drawing = ET.fromstring(merit_order(3))
    names = [e[1].text for e in drawing.iter(f"{SVG}g") if e.get("class") == "legend-entry"]
    assert names == ["offer", "bid price 110", "bid volume 100 kW"]


def test_the_delivery_plot_says_what_each_line_is():
    plot = delivery(4)
    for words in (
        "delivered = baseline - measured",
        "baseline: expected without activation",
        "measured net power into the site",
        "activated 100 kW",
    ):
        assert words in plot


def test_the_delivery_plot_draws_zero_darker_than_the_grid():
    drawing = ET.fromstring(delivery(4))
    zero = [e for e in drawing.iter(f"{SVG}text") if e.text == "0"]
    assert len(zero) == 1
    level = float(zero[0].get("y", 0)) - 4
    lines = [e for e in drawing.iter(f"{SVG}line") if e.get("y1") == f"{level:.1f}"]
    assert [line.get("stroke") for line in lines] == ["#444"]


def test_a_lone_reading_sits_inside_a_window_with_several_times_on_its_axis():
    drawing = ET.fromstring(readings(1))
    left, _, right, _ = plot_area(drawing)
    dot = next(drawing.iter(f"{SVG}circle"))
    assert left + 100 < float(dot.get("cx", 0)) < right - 100
    times = [e.text for e in drawing.iter(f"{SVG}text") if re.fullmatch(r"\d\d:\d\d", e.text or "")]
    assert len(times) >= 3


def test_a_readings_axis_is_named_by_the_quantity_label_and_its_unit():
    plot = readings(3)
    assert "state of charge (%)" in plot and "StateOfCharge" not in plot


def test_a_readings_axis_of_a_point_no_published_map_names_says_value():
    plot = figures.readings(store_of(example("measurement")), "battery-1-soc", 500)
    assert ">value<" in plot and "state of charge" not in plot


def test_a_missing_message_is_drawn_as_a_sentence_saying_so():
    for drawn in (
        figures.price_forecast(open_store("memory"), "nowhere"),
        figures.merit_order(open_store("memory"), "nowhere"),
        figures.delivery(open_store("memory"), "nowhere"),
        figures.readings(open_store("memory"), "nowhere", 5),
    ):
        assert ET.fromstring(drawn).find(f"{SVG}text") is not None and "nowhere" in drawn
