"""The live view at /live: each product's chain as it grows, and plots to look at, for the
people watching a lab run or a market day.

The page is plain HTML with a little script of our own: an EventSource on /events places each
commit in its product's chain and in the timeline, and reloads the plot a commit changes. The
plots are SVG drawn here (hub.web.figures), so the page needs nothing from outside the hub.
"""

from html import escape
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from hub.model.vocabulary import ID_PATTERN
from hub.storage.store import Store
from hub.web import figures

BACKLOG = 500
"""Commits the page replays when it opens, so that a product under way is seen whole."""

CHAIN = (
    ("forecasts", ("WeatherForecast", "FlexibilityMarketPriceForecast")),
    ("plan", ("OperationPlan",)),
    ("flexibility", ("Flexibility",)),
    ("offer", ("Offer",)),
    ("bid", ("Bid",)),
    ("offer list", ("OfferList",)),
    ("reserve", ("ReserveNotification",)),
    ("activation", ("ActivationNotification",)),
    ("command", ("ControlSignal",)),
    ("measurements", ("Measurement",)),
    ("verification", ("VerificationNotification",)),
)
"""A product's steps in the order of the use case, and the message types of each."""

SVG = "image/svg+xml"
_ID = Annotated[str, Path(pattern=f"^{ID_PATTERN}$")]


def page(start: int) -> str:
    """The live view, replaying the commits after `start` before it follows new ones."""
    steps = "".join(f"<th>{escape(step)}</th>" for step, _types in CHAIN)
    step_of = {kind: n for n, (_step, kinds) in enumerate(CHAIN) for kind in kinds}
    return (
        _PAGE.replace("{steps}", steps)
        .replace("{step_of}", repr(step_of).replace("'", '"'))
        .replace("{columns}", str(len(CHAIN)))
        .replace("{start}", str(start))
    )


def liveview_router(store: Store) -> APIRouter:
    router = APIRouter(tags=["live"])

    @router.get("/live", response_class=HTMLResponse, summary="The live view of the use case")
    def live() -> HTMLResponse:
        return HTMLResponse(page(max(0, store.last_sequence - BACKLOG)))

    def svg(drawing: str) -> Response:
        return Response(drawing, media_type=SVG, headers={"Cache-Control": "no-cache"})

    @router.get("/live/price-forecast/{id}.svg", summary="A price forecast, slot by slot")
    async def price_forecast(id: _ID) -> Response:
        return svg(await run_in_threadpool(figures.price_forecast, store, id))

    @router.get("/live/merit-order/{id}.svg", summary="A bid's offers by price, and its clearing")
    async def merit_order(id: _ID) -> Response:
        return svg(await run_in_threadpool(figures.merit_order, store, id))

    @router.get(
        "/live/delivery/{id}.svg", summary="Planned against delivered power of a verification"
    )
    async def delivery(id: _ID) -> Response:
        return svg(await run_in_threadpool(figures.delivery, store, id))

    @router.get("/live/point/{point}.svg", summary="A point's readings over time")
    async def point(
        point: _ID,
        last: Annotated[int, Query(ge=2, le=5000, description="the latest readings")] = 500,
    ) -> Response:
        return svg(await run_in_threadpool(figures.readings, store, point, last))

    return router


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>HEILA live view</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1em 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
#status { font-weight: bold; } #status.open { color: #1a7f37; } #status.closed { color: #b42318; }
table { border-collapse: collapse; } td, th { padding: 2px 6px; border-bottom: 1px solid #ddd; }
th { text-align: left; font-weight: 600; }
#chains td.step { min-width: 5em; font-size: 12px; }
#chains td.step a { display: inline-block; background: #dbeafe; border-radius: 3px;
  padding: 0 4px; margin: 1px; color: #1e3a8a; text-decoration: none; }
#chains td.step a.new, #timeline tr.new { background: #fde68a; }
#plots { display: flex; flex-wrap: wrap; gap: 1em; }
#plots figure { margin: 0; max-width: 480px; }
#plots img { width: 480px; height: auto; border: 1px solid #ddd; }
#timeline { font-size: 13px; }
</style>
</head>
<body>
<h1>HEILA live view</h1>
<p>Commits: <span id="count">0</span> · last sequence <span id="sequence">none</span> ·
stream <span id="status" class="closed">connecting</span></p>

<h2>Plots</h2>
<div id="plots">
<figure><img id="plot-FlexibilityMarketPriceForecast" alt="no price forecast yet">
<figcaption>Price forecast</figcaption></figure>
<figure><img id="plot-OfferList" alt="no offer list yet">
<figcaption>Merit order of a bid, with its clearing</figcaption></figure>
<figure><img id="plot-VerificationNotification" alt="no verification yet">
<figcaption>Planned and delivered power of an activation: delivered is the baseline
less the measured net power into the site</figcaption></figure>
<figure><img id="plot-point" alt="no readings yet">
<figcaption>Readings of <select id="point"></select></figcaption></figure>
</div>

<h2>Products</h2>
<table id="chains"><thead><tr><th>product</th>{steps}</tr></thead><tbody></tbody></table>

<h2>Timeline</h2>
<table id="timeline"><thead><tr><th>sequence</th><th>time</th><th>type</th><th>id</th>
<th>sender</th><th>links to</th></tr></thead><tbody></tbody></table>

<script>
"use strict";
const STEP_OF = {step_of};
const COLUMNS = {columns};
const PRODUCTS = 50;
const PLOTS = {
  FlexibilityMarketPriceForecast: id => `/live/price-forecast/${id}.svg`,
  OfferList: id => `/live/merit-order/${id}.svg`,
  VerificationNotification: id => `/live/delivery/${id}.svg`,
};
const SHARED = new Set(["WeatherForecast", "FlexibilityMarketPriceForecast", "Bid", "OfferList"]);
// A shared message (a forecast, a bid, an offer list) shows in every product that builds on it;
// any other belongs to the product of the message it follows up.
const productsOf = new Map();  // message id -> the products (their Flexibility's id) it is in
const seen = new Map();        // message id -> its event
const rows = new Map();        // product -> table row
let count = 0;

function cell(text, link) {
  const td = document.createElement("td");
  if (link) {
    const a = document.createElement("a");
    a.href = `/messages/${encodeURIComponent(text)}`; a.textContent = text; td.append(a);
  } else td.textContent = text;
  return td;
}

function chainRow(product) {
  if (!rows.has(product)) {
    const tr = document.createElement("tr");
    tr.append(cell(product, true));
    for (let n = 0; n < COLUMNS; n++) {
      const td = document.createElement("td"); td.className = "step"; tr.append(td);
    }
    const body = document.querySelector("#chains tbody");
    body.prepend(tr);
    rows.set(product, tr);
    while (body.children.length > PRODUCTS) {  // the oldest products leave the page
      const gone = body.lastChild;
      rows.delete(gone.firstChild.textContent); gone.remove();
    }
  }
  return rows.get(product);
}

function place(event, product) {
  const products = productsOf.get(event.id) || new Set();
  if (products.has(product) || !(event.type in STEP_OF)) return;
  productsOf.set(event.id, products.add(product));
  const a = document.createElement("a");
  a.href = `/messages/${encodeURIComponent(event.id)}`;
  a.textContent = event.id; a.title = `${event.type} by ${event.sender} at ${event.time}`;
  a.className = "new"; setTimeout(() => a.classList.remove("new"), 2000);
  chainRow(product).children[1 + STEP_OF[event.type]].append(a);
  for (const link of event.links) {  // what it builds on joins the product
    const earlier = seen.get(link);
    if (earlier && (SHARED.has(earlier.type) || !productsOf.has(link))) place(earlier, product);
  }
}

function follow(event) {
  seen.set(event.id, event);
  if (event.type === "Flexibility") { place(event, event.id); return; }
  for (const link of event.links) {
    const earlier = seen.get(link);
    if (!earlier || !productsOf.has(link)) continue;
    if (!SHARED.has(earlier.type)) {  // a bid joins its forecast's products only by a reserve
      for (const product of productsOf.get(link)) place(event, product);
    }
  }
}

function timeline(event) {
  const tr = document.createElement("tr");
  tr.append(cell(event.sequence), cell(event.time), cell(event.type), cell(event.id, true),
            cell(event.sender), cell(event.links.join(" ")));
  tr.className = "new"; setTimeout(() => tr.classList.remove("new"), 2000);
  const body = document.querySelector("#timeline tbody");
  body.prepend(tr);
  while (body.children.length > 500) body.lastChild.remove();
}

function plot(event) {
  if (event.type in PLOTS) {
    const img = document.getElementById(`plot-${event.type}`);
    img.src = PLOTS[event.type](encodeURIComponent(event.id));
  }
}

function points() {  // the points with readings, offered once the first Measurement is seen
  const select = document.getElementById("point");
  select.onchange = () => {
    document.getElementById("plot-point").src =
      `/live/point/${encodeURIComponent(select.value)}.svg?t=${Date.now()}`;
  };
  return select;
}
const pointSelect = points();

let pointsDue = false;
function readings(event) {  // at most one look for new points every two seconds
  if (event.type !== "Measurement" || pointsDue) return;
  pointsDue = true;
  setTimeout(() => { pointsDue = false; refreshPoints(); }, 2000);
}

function refreshPoints() {
  fetch("/queries/latest-values", {headers: {Accept: "application/sparql-results+json"}})
    .then(r => r.json()).then(result => {
      const known = new Set([...pointSelect.options].map(o => o.value));
      for (const b of result.results.bindings) {
        const point = (b.point || {}).value; if (!point) continue;
        const id = point.split("/").pop();
        if (!known.has(id)) { pointSelect.add(new Option(id, id)); known.add(id); }
      }
      if (pointSelect.value) pointSelect.onchange();
    }).catch(() => {});
}

const source = new EventSource("/events?after={start}");
const status = document.getElementById("status");
source.onopen = () => { status.textContent = "open"; status.className = "open"; };
source.onerror = () => { status.textContent = "reconnecting"; status.className = "closed"; };
source.addEventListener("message", message => {
  const event = JSON.parse(message.data);
  count += 1;
  document.getElementById("count").textContent = count;
  document.getElementById("sequence").textContent = event.sequence;
  follow(event); timeline(event); plot(event); readings(event);
});
</script>
</body>
</html>
"""
