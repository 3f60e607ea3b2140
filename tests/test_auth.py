"""Who may write: per-actor bearer tokens from the configuration, the writer as the sender."""

from pathlib import Path

import httpx
import pytest

from hub.app import create_app
from hub.auth import Credentials, hash_token, new_token, token_matches
from hub.config import ConfigError, Credential, Settings, load_settings
from hub.message import Message
from hub.store import open_store
from tests.conftest import Hub, Serve

TOKEN_FILE = """
[actors.ams-1]
token_hash = "{hash}"
"""


def weather(story: list[Message]) -> Message:
    return next(m for m in story if m.id == "weather-1")


def post(url: str, message: Message, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{url}/messages",
        content=message.serialize("application/json"),
        headers={**headers, "content-type": "application/json"},
    )


def test_a_post_without_a_token_is_401_with_a_bearer_challenge(hub: Hub, story):
    answer = post(hub.url, weather(story), {})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"


def test_a_post_with_a_token_nobody_holds_is_401(hub: Hub, story):
    answer = post(hub.url, weather(story), {"Authorization": f"Bearer {new_token()}"})
    assert answer.status_code == 401


def test_a_post_with_another_scheme_is_401(hub: Hub, story):
    answer = post(hub.url, weather(story), {"Authorization": f"Basic {hub.tokens['spp-1']}"})
    assert answer.status_code == 401


def test_an_actor_cannot_send_in_another_actors_name(hub: Hub, story):
    answer = post(hub.url, weather(story), hub.auth("dms-1"))
    assert answer.status_code == 403
    assert (answer.json()["field"], answer.json()["rule"]) == ("sender", "sender")
    assert httpx.get(f"{hub.url}/messages").json()["items"] == []


def test_reading_needs_no_token(hub: Hub, story):
    post(hub.url, weather(story), hub.auth("spp-1"))
    assert httpx.get(f"{hub.url}/messages/weather-1").status_code == 200


def test_a_hub_without_credentials_is_read_only(serve: Serve, mosquitto, story):
    url = serve(create_app(Settings(mqtt=mosquitto.url), open_store("memory")))
    answer = post(url, weather(story), {"Authorization": f"Bearer {new_token()}"})
    assert answer.status_code == 403
    assert answer.json()["type"].endswith("/read-only")


def test_a_token_matches_its_own_hash_only():
    token = new_token()
    assert token_matches(token, hash_token(token))
    assert not token_matches(new_token(), hash_token(token))


def test_the_hash_does_not_contain_the_token():
    token = new_token()
    assert token not in hash_token(token)


def test_one_token_hashes_differently_each_time():
    token = new_token()
    assert hash_token(token) != hash_token(token)


def test_credentials_from_the_configuration_file_name_the_actor(tmp_path: Path):
    token = new_token()
    config = tmp_path / "hub.toml"
    config.write_text(TOKEN_FILE.format(hash=hash_token(token)))
    credentials = Credentials(load_settings(config).actors)
    assert credentials.actor_for(token) == "ams-1"


def test_a_plaintext_token_in_the_configuration_is_refused(tmp_path: Path):
    config = tmp_path / "hub.toml"
    config.write_text('[actors.ams-1]\ntoken = "plain"\n')
    with pytest.raises(ConfigError, match=r"actors\.ams-1"):
        load_settings(config)


def test_a_token_hash_of_the_wrong_form_is_refused():
    with pytest.raises(ConfigError, match="token_hash"):
        Credentials({"ams-1": Credential("plain-token")})


def test_without_a_configuration_file_no_actor_can_write():
    assert load_settings(None).read_only
