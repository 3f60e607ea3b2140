"""The live view's plots: what each one reads from the store, drawn with hub.web.charts.

Each figure reads by SPARQL through the store's bounded query workers, like any reader, and
answers a drawing that says what is missing rather than an error when there is nothing to show.
"""

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyoxigraph as ox
from rdflib import URIRef

from hub.model.derived import seconds_of
from hub.model.ontology import label, load_ontology
from hub.model.vocabulary import HEILA, POINT, QUDT, SMARTAPI
from hub.storage.store import Store
from hub.web.charts import Chart, empty

_PREFIXES = f"PREFIX heila: <{HEILA}>\nPREFIX smartapi: <{SMARTAPI}>\n"
_RDF_VALUE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#value>"
_GR = "<http://purl.org/goodrelations/v1#"
_DAY = 86400
_LABEL_STEPS = (60, 300, 900, 1800, 3600, 7200, 21600, 43200, _DAY)
_LONE_READING = timedelta(minutes=30)
"""How far either side of a point's only reading its plot shows, so the time axis has labels."""


Term = ox.NamedNode | ox.BlankNode | ox.Literal


def _rows(store: Store, sparql: str) -> list[dict[str, Term]]:
    result = store.query(_PREFIXES + sparql)
    return [
        {
            name: term
            for name, term in zip(result.variables, row, strict=True)
            if isinstance(term, ox.NamedNode | ox.BlankNode | ox.Literal)
        }
        for row in result.rows
    ]


def _number(term: Term) -> float:
    return float(Decimal(term.value)) if isinstance(term, ox.Literal) else 0.0


def _time(term: Term) -> datetime:
    return datetime.fromisoformat(term.value.replace("Z", "+00:00"))


def _clock_labels(start: datetime, end: datetime) -> list[tuple[float, str]]:
    """About six labels (UTC) across [start, end], in seconds since start: times of day, or
    dates once the span is longer than a day and a half."""
    span = max((end - start).total_seconds(), 1.0)
    days = math.ceil(span / 6 / _DAY) * _DAY
    step = next((s for s in _LABEL_STEPS if span / s <= 6), days)
    form = "%H:%M" if step < _DAY else "%m-%d"
    first = start.timestamp() // step * step + step
    ticks = [first + n * step for n in range(-1, int(span // step) + 1)]
    return [
        (t - start.timestamp(), datetime.fromtimestamp(t, UTC).strftime(form))
        for t in ticks
        if 0 <= t - start.timestamp() <= span
    ]


def _y_range(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(0.0, *values), max(0.0, *values)
    margin = (high - low) * 0.1 or 1.0
    return (low - margin if low < 0 else low, high + margin)


def price_forecast(store: Store, message_id: str) -> str:
    """The forecast's price per slot, held over each slot."""
    title = f"Price forecast {message_id}"
    found = _rows(
        store,
        f"""SELECT ?start ?step ?index ?price ?currency WHERE {{
          ?m smartapi:id {ox.Literal(message_id)} ; a heila:FlexibilityMarketPriceForecast ;
             heila:start ?start ; heila:timeStep ?step ; heila:slot ?slot .
          OPTIONAL {{ ?m {_GR}hasCurrency> ?currency }}
          ?slot heila:index ?index ; heila:forecastPrice ?price .
        }} ORDER BY ?index""",
    )
    if not found:
        return empty(title, f"no price forecast {message_id}")
    start, step = _time(found[0]["start"]), float(seconds_of(found[0]["step"].value))
    points = [(_number(row["index"]) * step, _number(row["price"])) for row in found]
    end = points[-1][0] + step
    currency = found[0].get("currency")
    chart = Chart(
        title,
        "slot start (UTC)",
        f"{currency.value if currency else ''} per MWh",
        (0.0, end),
        _y_range([price for _x, price in points]),
        _clock_labels(start, start + timedelta(seconds=end)),
    )
    chart.steps("forecast price", points, end)
    return chart.svg()


def merit_order(store: Store, message_id: str) -> str:
    """The offer list's bid: offers of its direction and window by price, widths their power,
    against the bid's price and volume; offers a reserve accepted stand out."""
    title = f"Merit order of offer list {message_id}"
    bid = _rows(
        store,
        f"""SELECT ?bid ?power ?amount ?per WHERE {{
          ?list smartapi:id {ox.Literal(message_id)} ; a heila:OfferList ; heila:answers ?bid .
          ?bid heila:power ?power ; heila:price ?price .
          ?price {_GR}hasCurrencyValue> ?amount ; {_GR}hasUnitOfMeasurement> ?per .
        }}""",
    )
    if not bid:
        return empty(title, f"no offer list {message_id} answering a bid")
    offers = _rows(
        store,
        f"""SELECT ?offer ?id ?power ?amount ?per ?accepted WHERE {{
          BIND({bid[0]["bid"]} AS ?bid)
          ?bid heila:flexibilityType ?direction ; heila:start ?bidStart ; heila:end ?bidEnd .
          ?offer a heila:Offer ; smartapi:id ?id ; heila:flexibilityType ?direction ;
            heila:power ?power ; heila:start ?start ; heila:end ?end ; heila:price ?price .
          ?price {_GR}hasCurrencyValue> ?amount ; {_GR}hasUnitOfMeasurement> ?per .
          FILTER(?start < ?bidEnd && ?end > ?bidStart)
          BIND(EXISTS {{ ?r heila:acceptedOffer ?offer ; heila:servesBid ?bid }} AS ?accepted)
        }}""",
    )

    def per_mwh(row: dict[str, Term]) -> float:
        return _number(row["amount"]) * (1000 if row["per"].value == "KWH" else 1)

    ranked = sorted(offers, key=per_mwh)
    bid_power, bid_price = _number(bid[0]["power"]), per_mwh(bid[0])
    total = sum(_number(row["power"]) for row in ranked)
    chart = Chart(
        title,
        "cumulative power (kW)",
        "price (per MWh)",
        (0.0, max(total, bid_power) * 1.05),
        _y_range([bid_price, *(per_mwh(row) for row in ranked)]),
    )
    offset = 0.0
    for row in ranked:
        power, accepted = _number(row["power"]), row["accepted"].value == "true"
        chart.bar(
            "accepted offer" if accepted else "offer",
            offset,
            offset + power,
            per_mwh(row),
            2 if accepted else 0,
            f"{row['id'].value}: {power:g} kW at {per_mwh(row):g}"
            + (" (accepted)" if accepted else ""),
        )
        offset += power
    chart.horizontal(f"bid price {bid_price:g}", bid_price, 1)
    chart.vertical(f"bid volume {bid_power:g} kW", bid_power, 3)
    return chart.svg()


def delivery(store: Store, message_id: str) -> str:
    """A verification's slots: the power its activation asked for against what was delivered
    (baseline minus measured power), with the baseline and the measured power."""
    title = f"Planned and delivered power, {message_id}"
    found = _rows(
        store,
        f"""SELECT ?start ?step ?index ?power ?baseline ?asked WHERE {{
          ?v smartapi:id {ox.Literal(message_id)} ; a heila:VerificationNotification ;
             heila:start ?start ; heila:timeStep ?step ; heila:slot ?slot .
          OPTIONAL {{ ?v heila:verifies/heila:power ?asked }}
          ?slot heila:index ?index ; heila:power ?power ; heila:baseline ?baseline .
        }} ORDER BY ?index""",
    )
    if not found:
        return empty(title, f"no verification {message_id}")
    start, step = _time(found[0]["start"]), float(seconds_of(found[0]["step"].value))
    at = [_number(row["index"]) * step for row in found]
    measured = [_number(row["power"]) for row in found]
    baseline = [_number(row["baseline"]) for row in found]
    delivered = [b - m for b, m in zip(baseline, measured, strict=True)]
    asked = _number(found[0]["asked"]) if "asked" in found[0] else None
    end = at[-1] + step
    chart = Chart(
        title,
        "slot start (UTC)",
        "power (kW)",
        (0.0, end),
        _y_range([*measured, *baseline, *delivered, *([asked] if asked is not None else [])]),
        _clock_labels(start, start + timedelta(seconds=end)),
    )
    for name, values, colour in (
        ("delivered = baseline - measured", delivered, 2),
        ("baseline: expected without activation", baseline, 4),
        ("measured net power into the site", measured, 0),
    ):
        chart.steps(name, list(zip(at, values, strict=True)), end, colour)
    if asked is not None:
        chart.horizontal(f"activated {asked:g} kW", asked, 1)
    return chart.svg()


def readings(store: Store, point: str, last: int) -> str:
    """The latest `last` readings of one point, in the order they were measured."""
    title = f"Readings of {point}"
    node = ox.NamedNode(POINT + point)  # its quantity is the published point map's
    found = _rows(
        store,
        f"""SELECT ?time ?value ?quantity WHERE {{
          ?reading heila:point {node} ; heila:measuredAt ?time ; {_RDF_VALUE} ?value .
          OPTIONAL {{ {node} heila:quantity ?quantity }}
        }} ORDER BY DESC(?time) LIMIT {last}""",
    )
    if not found:
        return empty(title, f"no readings of {point}")
    found.reverse()
    times = [_time(row["time"]) for row in found]
    pad = (times[-1] - times[0]) / 50 or _LONE_READING
    start, end = times[0] - pad, times[-1] + pad
    points = [
        ((at - start).total_seconds(), _number(row["value"]))
        for at, row in zip(times, found, strict=True)
    ]
    values = [value for _x, value in points]
    margin = (max(values) - min(values)) * 0.1 or 1.0
    chart = Chart(
        title,
        "measured at (UTC)",
        _axis_name(quantity.value) if (quantity := found[0].get("quantity")) else "value",
        (0.0, (end - start).total_seconds()),
        (min(values) - margin, max(values) + margin),
        _clock_labels(start, end),
    )
    chart.line(point, points, dots=len(points) <= 50)
    return chart.svg()


def _axis_name(quantity: str) -> str:
    """A quantity as an axis names it: the ontology's label and its unit's symbol, as
    "phase voltage (V)"; a quantity without unit by its label alone."""
    ontology = load_ontology()
    units = ontology.objects(URIRef(quantity), URIRef(QUDT + "unit"))
    symbols = [str(s) for unit in units for s in ontology.objects(unit, URIRef(QUDT + "symbol"))]
    return f"{label(quantity)} ({symbols[0]})" if symbols else label(quantity)
