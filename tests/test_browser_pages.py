"""The hub's pages in a real headless Chromium that can reach nothing but the hub: the console
runs a named query and shows its rows, the ontology page lists the twelve objects, Swagger UI
offers "Authorize", ReDoc renders, and the live view shows a message as it is committed and
draws its plots. Each test leaves a screenshot in artifacts/screenshots/.
"""

import time

import httpx
import pytest
from browser import open_page, outside, requested_hosts, screenshot, wait_for
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from hub.app import create_app
from hub.model.vocabulary import INFORMATION_OBJECTS
from hub.storage.store import QueryLimits, open_store
from tests.conftest import Hub, hub_settings


@pytest.fixture
def story_hub(hub: Hub, story) -> Hub:
    """The test hub holding the example story."""
    for sent in story:
        hub.store.put(sent)
    return hub


def test_the_console_runs_a_named_query_and_shows_its_rows_offline(
    browser: WebDriver, story_hub: Hub
):
    open_page(browser, story_hub.url + "/")
    wait_for(browser, "document.querySelector('#yasgui .CodeMirror') !== null")
    browser.find_element(By.CSS_SELECTOR, 'button[data-query="messages-per-actor-hour"]').click()
    rows = wait_for(browser, "document.querySelectorAll('.yasr table tbody tr').length")
    screenshot(browser, "console")
    assert rows >= 5
    assert not browser.find_element(By.ID, "truncated").is_displayed()
    assert outside(requested_hosts(browser)) == set()


def test_the_console_says_so_when_a_result_was_cut_at_the_limit(
    browser: WebDriver, mosquitto, serve
):
    store = open_store("memory", QueryLimits(result_limit=3))
    url = serve(create_app(hub_settings(mosquitto, {}), store))
    open_page(browser, url + "/console")
    wait_for(browser, "document.querySelector('#yasgui .CodeMirror') !== null")
    browser.execute_script(
        "const tab = yasgui.getTab();"
        "tab.getYasqe().setValue('SELECT * WHERE { ?s ?p ?o }');"
        "tab.query();"
    )
    wait_for(browser, "document.querySelectorAll('.yasr table tbody tr').length === 3")
    notice = browser.find_element(By.ID, "truncated")
    screenshot(browser, "console-truncated")
    assert notice.is_displayed()
    assert "cut at the hub's result limit" in notice.text


def test_the_console_starts_with_the_heila_prefixes(browser: WebDriver, story_hub: Hub):
    open_page(browser, story_hub.url + "/console")
    text = wait_for(browser, "document.querySelector('#yasgui .CodeMirror').CodeMirror.getValue()")
    assert "PREFIX heila: <https://w3id.org/heila/ontology#>" in str(text)


def test_the_ontology_page_lists_the_twelve_information_objects(browser: WebDriver, story_hub: Hub):
    open_page(browser, story_hub.url + "/ontology")
    headings = {
        element.get_attribute("id")
        for element in browser.find_elements(By.CSS_SELECTOR, "#information-objects .term")
    }
    screenshot(browser, "ontology")
    assert headings == set(INFORMATION_OBJECTS)
    assert outside(requested_hosts(browser)) == set()


def test_swagger_ui_renders_with_the_authorize_button(browser: WebDriver, story_hub: Hub):
    open_page(browser, story_hub.url + "/docs")
    wait_for(browser, "document.querySelector('.swagger-ui .btn.authorize') !== null")
    wait_for(browser, "document.querySelectorAll('.opblock').length > 5")
    screenshot(browser, "docs")
    assert outside(requested_hosts(browser)) == set()


def test_a_token_given_to_authorize_lets_try_it_out_post_a_message(
    browser: WebDriver, story_hub: Hub
):
    open_page(browser, story_hub.url + "/docs")
    wait_for(browser, "document.querySelector('.swagger-ui .btn.authorize') !== null")
    browser.find_element(By.CSS_SELECTOR, ".btn.authorize").click()
    browser.find_element(By.ID, "auth-bearer-value").send_keys(story_hub.tokens["dms-1"])
    browser.find_element(By.CSS_SELECTOR, ".modal-btn.auth.authorize").click()
    browser.find_element(By.CSS_SELECTOR, ".modal-btn.auth.btn-done").click()
    operation = browser.find_element(By.ID, "operations-default-post_message_messages_post")
    operation.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait_for(browser, "document.querySelector('.btn.execute') !== null")  # tried out at once
    operation.find_element(By.CSS_SELECTOR, ".btn.execute").click()
    status = wait_for(
        browser,
        "document.querySelector('.live-responses-table tbody .response-col_status')?.textContent",
    )
    screenshot(browser, "docs-authorized")
    # the first example is the story's activation notification from dms-1, already stored
    assert str(status).strip().startswith("200"), status


def test_redoc_renders_the_api_reference(browser: WebDriver, story_hub: Hub):
    open_page(browser, story_hub.url + "/redoc")
    title = wait_for(browser, "document.querySelector('.api-content h1')?.textContent")
    screenshot(browser, "redoc")
    assert "HEILA hub" in str(title)
    assert outside(requested_hosts(browser)) == set()


def test_a_handbook_page_renders(browser: WebDriver, story_hub: Hub):
    open_page(browser, story_hub.url + "/guide/dataset")
    screenshot(browser, "guide-dataset")
    assert browser.find_element(By.TAG_NAME, "h1").text == "The dataset: what a SPARQL query sees"
    assert outside(requested_hosts(browser)) == set()


PLOTS = ("FlexibilityMarketPriceForecast", "OfferList", "VerificationNotification", "point")


def test_the_live_view_shows_a_posted_message_within_a_second(browser: WebDriver, hub: Hub, story):
    open_page(browser, hub.url + "/live")
    wait_for(browser, "document.getElementById('status').textContent === 'open'")
    sent = story[0]
    posted = time.monotonic()
    answer = httpx.post(
        f"{hub.url}/messages",
        content=sent.serialize("application/json"),
        headers={**hub.auth(sent.sender), "content-type": "application/json"},
    )
    assert answer.status_code == 201
    link = f"#timeline a[href='/messages/{sent.id}']"
    within = 1.0 - (time.monotonic() - posted)
    wait_for(browser, f'document.querySelector("{link}") !== null', timeout=within)
    screenshot(browser, "live-new-message")
    assert browser.find_element(By.ID, "count").text == "1"


def test_the_live_view_draws_its_plots_from_the_story(browser: WebDriver, story_hub: Hub):
    open_page(browser, story_hub.url + "/live")
    for plot in PLOTS:
        image = f"document.getElementById('plot-{plot}')"
        wait_for(browser, f"{image}.complete && {image}.naturalWidth > 0")
    screenshot(browser, "live")
    drawn = [browser.find_element(By.ID, f"plot-{plot}").get_attribute("src") for plot in PLOTS]
    assert all("/live/" in str(source) for source in drawn)
    assert outside(requested_hosts(browser)) == set()


EXTENTS = """
const extent = element => {
  const b = element.getBBox(); return [b.x, b.y, b.x + b.width, b.y + b.height];
};
const view = document.documentElement.viewBox.baseVal;
return {
  canvas: [0, 0, view.width, view.height],
  area: extent(document.querySelector(".plot-area")),
  entries: [...document.querySelectorAll(".legend-entry")].map(extent),
};
"""
"""The plot area's and each legend entry's extent as the browser lays them out, in its fonts."""


def overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize(
    "plot",
    [
        "price-forecast/priceforecast-1",
        "merit-order/offerlist-1",
        "delivery/verification-1",
        "point/battery-1-soc",
    ],
)
def test_a_plot_legend_as_a_browser_draws_it_covers_neither_the_plot_nor_itself(
    browser: WebDriver, story_hub: Hub, plot: str
):
    open_page(browser, f"{story_hub.url}/live/{plot}.svg")
    drawn = browser.execute_script(EXTENTS)
    canvas, area, entries = drawn["canvas"], drawn["area"], drawn["entries"]
    assert entries and not any(overlap(entry, area) for entry in entries)
    assert not any(overlap(a, b) for n, a in enumerate(entries) for b in entries[n + 1 :])
    assert all(canvas[0] <= e[0] and e[2] <= canvas[2] and e[3] <= canvas[3] for e in entries)
