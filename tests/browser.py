"""A real headless Chromium for the tests of the hub's pages, shared by every page's tests.

Chromium is Debian's (`scripts/system-packages` installs it with its driver). It resolves no
host name but 127.0.0.1, so a page that reached for a CDN would fail visibly, and its
performance log records every request the page made, for the tests to check that none left
the machine. Each page's screenshot lands in artifacts/screenshots/, which CI keeps.
"""

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,900",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})


def _missing() -> str | None:
    for program in (CHROMIUM, CHROMEDRIVER):
        if not program.exists():
            return f"{program} is missing: run scripts/system-packages (chromium, chromium-driver)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    """One headless Chromium for the session, with a fresh profile of its own."""
    missing = _missing()
    if missing is not None:
        pytest.fail(missing, pytrace=False)
    profile = tempfile.mkdtemp(prefix="heila-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_page(browser: WebDriver, url: str) -> None:
    """Load `url`, forgetting what earlier pages requested."""
    browser.get_log("performance")
    browser.get(url)


def requested_hosts(browser: WebDriver) -> set[str]:
    """Every host the browser sent a request to since the last page was opened; a request the
    page's content security policy blocked never left and is not counted."""
    hosts: dict[str, str] = {}
    blocked = set()
    for entry in browser.get_log("performance"):
        event = json.loads(entry["message"])["message"]
        params = event.get("params", {})
        if event["method"] == "Network.requestWillBeSent":
            url = urlsplit(params["request"]["url"])
            if url.scheme in ("http", "https", "ws", "wss"):
                hosts[params["requestId"]] = url.hostname or ""
        elif event["method"] == "Network.loadingFailed" and params.get("blockedReason"):
            blocked.add(params["requestId"])
    return {host for request, host in hosts.items() if request not in blocked}


def outside(hosts: set[str]) -> set[str]:
    return hosts - LOCAL_HOSTS


def wait_for(browser: WebDriver, script: str, timeout: float = 20.0) -> object:
    """Wait until the JavaScript expression `script` is true on the page; answer its value.
    It is asked every 20 ms, so a wait bounded to a second means what it says."""
    return WebDriverWait(browser, timeout, poll_frequency=0.02).until(
        lambda b: b.execute_script(f"return {script}")
    )


def screenshot(browser: WebDriver, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    browser.save_screenshot(str(path))
    return path
