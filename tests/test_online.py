"""Reading a running hub's data: `GET /dump` for administrators, `heila dump` and `heila query`
with --hub over real HTTP, while the hub holds its store."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hub.app import create_app
from hub.commands.cli import main
from hub.config import Credential, Settings, load_settings
from hub.model.errors import UsageError
from hub.model.message import Message
from hub.mqtt.broker import Mosquitto
from hub.storage.store import open_store
from hub.trust.auth import hash_token, new_token
from tests.conftest import Serve


@dataclass(frozen=True)
class Running:
    url: str
    admin: str
    writer: str


@pytest.fixture
def running(mosquitto: Mosquitto, serve: Serve, story: list[Message]) -> Iterator[Running]:
    """A hub with the story in its store, an administrator and an actor who is none."""
    admin, writer = new_token(), new_token()
    actors = {
        "operator": Credential(hash_token(admin), admin=True),
        "dms-1": Credential(hash_token(writer)),
    }
    store = open_store("memory")
    for message in story:
        store.put(message)
    yield Running(
        serve(create_app(Settings(mqtt=mosquitto.url, actors=actors), store)), admin, writer
    )
    store.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_administrator_dumps_the_store_online_as_n_quads(running: Running, story):
    answer = httpx.get(f"{running.url}/dump", headers=bearer(running.admin))
    assert answer.headers["content-type"] == "application/n-quads"
    assert all(f"<{message.iri}> ." in answer.text for message in story)


def test_an_actor_who_is_no_administrator_cannot_dump(running: Running):
    answer = httpx.get(f"{running.url}/dump", headers=bearer(running.writer))
    assert (answer.status_code, answer.json()["type"].rsplit("/", 1)[-1]) == (
        403,
        "not-administrator",
    )
    assert httpx.get(f"{running.url}/dump").status_code == 401


def test_heila_dump_with_hub_writes_the_running_hubs_store(running: Running, tmp_path: Path, story):
    token = tmp_path / "token"
    token.write_text(running.admin)
    target = tmp_path / "backup.nq"
    assert main(["dump", str(target), "--hub", running.url, "--token-file", str(token)]) == 0
    restored = open_store("memory")
    with target.open("rb") as source:
        restored.load(source)
    assert restored.last_sequence == len(story)


def test_heila_dump_with_a_writers_token_exits_2_with_the_hubs_reason(
    running: Running, tmp_path: Path, capsys, monkeypatch
):
    monkeypatch.setenv("HEILA_TOKEN", running.writer)
    assert main(["dump", str(tmp_path / "backup.nq"), "--hub", running.url]) == 2
    assert "403" in capsys.readouterr().err and not (tmp_path / "backup.nq").exists()


def test_heila_query_with_hub_prints_the_running_hubs_answer(running: Running, capsys):
    assert main(["query", "undelivered-activations", "--hub", running.url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].startswith("msg:activation-1") and lines[2].split()[-2:] == ["0.5", "0.995"]


def test_admin_is_read_from_an_actors_table(tmp_path: Path):
    config = tmp_path / "hub.toml"
    config.write_text('[actors.operator]\ntoken_hash = "sha256$a$b"\nadmin = true\n')
    assert load_settings(config).actors["operator"].admin


def test_admin_that_is_no_boolean_is_refused_naming_it(tmp_path: Path):
    config = tmp_path / "hub.toml"
    config.write_text('[actors.operator]\ntoken_hash = "sha256$a$b"\nadmin = "yes"\n')
    with pytest.raises(UsageError, match=r"\[actors.operator\] admin is a boolean"):
        load_settings(config)
