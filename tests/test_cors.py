"""Cross-origin use: a YASGUI or notebook served from another origin may query the hub when
that origin is configured, and no origin may by default."""

import httpx
import pytest

from hub.app import create_app
from hub.storage.store import open_store
from hub.trust.auth import new_token
from tests.conftest import STORY_ACTORS, hub_settings

NOTEBOOK = "http://localhost:8888"
PREFLIGHT = {
    "origin": NOTEBOOK,
    "access-control-request-method": "POST",
    "access-control-request-headers": "content-type, authorization",
}


@pytest.fixture
def url_with(mosquitto, serve):
    """The URL of a real hub on a free port whose configuration allows these origins."""

    def start(*origins: str) -> str:
        tokens = {actor: new_token() for actor in STORY_ACTORS}
        settings = hub_settings(mosquitto, tokens, cors_origins=origins)
        return serve(create_app(settings, open_store("memory")))

    return start


def test_a_configured_origin_may_post_a_query_after_its_preflight(url_with):
    url = url_with(NOTEBOOK)
    preflight = httpx.options(f"{url}/sparql", headers=PREFLIGHT)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == NOTEBOOK
    answer = httpx.post(
        f"{url}/sparql",
        content="ASK {}",
        headers={"origin": NOTEBOOK, "content-type": "application/sparql-query"},
    )
    assert answer.headers["access-control-allow-origin"] == NOTEBOOK
    assert "heila-truncated" in answer.headers["access-control-expose-headers"].lower()


def test_an_origin_not_configured_gets_no_permission(url_with):
    url = url_with(NOTEBOOK)
    answer = httpx.get(f"{url}/queries", headers={"origin": "http://elsewhere.example"})
    assert "access-control-allow-origin" not in answer.headers


def test_by_default_no_origin_gets_permission(url_with):
    url = url_with()
    preflight = httpx.options(f"{url}/sparql", headers=PREFLIGHT)
    answer = httpx.get(f"{url}/queries", headers={"origin": NOTEBOOK})
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in answer.headers
