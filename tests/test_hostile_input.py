"""Hostile input against a real `heila serve` on an on-disk store, from outside, over HTTP.

Every request of the corpus must be refused with a 4xx problem report, leave the store as it
was, and leave the process alive and answering /health. What each did (its answer, its time,
/health's slowest answer meanwhile, the hub's memory) is written to
artifacts/hostile-inputs.md, for people to read.
"""

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.model.context import CONTEXT_URL
from hub.model.vocabulary import MESSAGE
from tests.served import ADMINISTRATOR, ServedHub, served_hub

REPORT = Path(__file__).resolve().parent.parent / "artifacts" / "hostile-inputs.md"
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"
CARTESIAN = "{ ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"


@dataclass(frozen=True)
class Attack:
    """One hostile request: what it sends and the answers that refuse it properly."""

    name: str
    method: str
    path: str
    refused_with: frozenset[int]
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    writer: str | None = None
    """the actor whose token the request carries, if any"""


def _nested(depth: int, shape: str) -> str:
    if shape == "parentheses":
        return "SELECT * WHERE { FILTER(" + "(" * depth + "1" + ")" * depth + ") }"
    if shape == "groups":
        return "SELECT * WHERE " + "{" * depth + " ?s ?p ?o " + "}" * depth
    return "ASK { " + "FILTER NOT EXISTS { " * depth + "?s ?p ?o" + " }" * depth + " }"


def _query_attacks() -> Iterator[Attack]:
    for shape in ("parentheses", "groups", "not-exists"):
        for depth in (3_000, 5_000, 100_000, 1_000_000):
            text = _nested(depth, shape).encode()
            yield Attack(
                f"SPARQL {shape} nested {depth:,} deep, POST",
                "POST",
                "/sparql",
                frozenset({400, 413}),
                text,
                {"content-type": "application/sparql-query"},
            )
        depth = 2_000 if shape == "not-exists" else 5_000  # as long as a client sends a URL
        yield Attack(
            f"SPARQL {shape} nested {depth:,} deep, GET",
            "GET",
            "/sparql?" + str(httpx.QueryParams({"query": _nested(depth, shape)})),
            frozenset({400, 414, 431}),
        )
    for name, body in {
        "query": b"SELECT * WHERE { ?s ?p '\xff' }",
        "form": b"query=SELECT%20*%20WHERE%20%7B%3Fs%20%3Fp%20%27%FF%27%7D",
    }.items():
        media = (
            "application/sparql-query" if name == "query" else "application/x-www-form-urlencoded"
        )
        yield Attack(
            f"SPARQL {name} with invalid UTF-8, POST",
            "POST",
            "/sparql",
            frozenset({400}),
            body,
            {"content-type": media},
        )
    yield Attack(
        "SPARQL query with invalid UTF-8, GET",
        "GET",
        "/sparql?query=SELECT%20*%20WHERE%20%7B%3Fs%20%3Fp%20%27%FF%27%7D",
        frozenset({400}),
    )


def _post(name: str, body: Any, media: str = "application/ld+json") -> Attack:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Attack(
        name, "POST", "/messages", frozenset({400, 413}), content, {"content-type": media}, "ams-1"
    )


def _laughs(terms: int, levels: int) -> bytes:
    """A context of `terms` scoped terms, one of them scoped `levels` deep (written as text:
    it nests deeper than Python's JSON writer goes)."""
    deep = '{"@id": "urn:x"}'
    for _ in range(levels):
        deep = '{"@id": "urn:x", "@context": {"t": ' + deep + "}}"
    scoped = (f'"t{n}": {{"@id": "urn:t{n}", "@context": {{"u": "urn:u"}}}}' for n in range(terms))
    context = "{" + ", ".join([*scoped, f'"deep": {deep}']) + "}"
    return f'{{"@context": {context}, "@id": "urn:a", "t0": {{"u": "x"}}}}'.encode()


def _message_attacks() -> Iterator[Attack]:
    for depth in (1_000, 100_000):
        yield _post(
            f"JSON arrays nested {depth:,} deep", b"[" * depth + b"]" * depth, "application/json"
        )
        yield _post(
            f"JSON objects nested {depth:,} deep",
            b'{"a":' * depth + b"1" + b"}" * depth,
            "application/json",
        )
    nodes = '{"@id": "urn:n", "urn:p": ' * 900 + '{"@id": "urn:leaf"}' + "}" * 900
    yield _post(
        "JSON-LD nodes nested 900 deep",
        f'{{"@context": "{CONTEXT_URL}", "urn:p": {nodes}}}'.encode(),
    )
    yield _post("JSON-LD 'laughs' context, 3,000 scoped terms x 600 levels", _laughs(3_000, 600))
    yield _post("JSON-LD 'laughs' context, 3,000 scoped terms x 20 levels", _laughs(3_000, 20))
    yield _post(
        "JSON-LD key with a control character",
        {"@context": CONTEXT_URL, "@id": "urn:a", "urn:p\u0001q": "x"},
    )
    yield _post(
        "JSON-LD plain value that is not an IRI",
        {"@context": CONTEXT_URL, "@id": "up", "@type": "heila:Offer"},
    )


def _context_attacks(url: str) -> Iterator[Attack]:
    """The same URL in every position a JSON-LD context can name one."""
    positions = {
        "top-level @context": {"@context": url},
        "@context list": {"@context": [CONTEXT_URL, url]},
        "@import": {"@context": {"@import": url}},
        "property-scoped context": {"@context": {"p": {"@id": "urn:p", "@context": url}}, "p": {}},
        "type-scoped context": {"@context": {"T": {"@id": "urn:T", "@context": url}}, "@type": "T"},
        "nested node context": {"@context": CONTEXT_URL, "urn:p": {"@context": url}},
    }
    for position, document in positions.items():
        yield _post(f"JSON-LD {position} naming {url}", {"@id": "urn:a", **document})


ATTACKS = [*_query_attacks(), *_message_attacks()]


class Listener:
    """A TCP server that accepts connections and never answers: it counts who came."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}/context.jsonld"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self._socket.accept()
            except OSError:
                return
            self.connections += 1

    def close(self) -> None:
        self._socket.close()


@dataclass
class Watch:
    """/health asked every 50 ms while an attack runs; its slowest answer and any failure."""

    hub: ServedHub
    slowest: float = 0.0
    failures: int = 0
    _running: bool = True

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._ask, daemon=True)
        self._thread.start()

    def _ask(self) -> None:
        while self._running:
            started = time.monotonic()
            if not self.hub.healthy():
                self.failures += 1
            self.slowest = max(self.slowest, time.monotonic() - started)
            time.sleep(0.05)

    def stop(self) -> None:
        self._running = False
        self._thread.join()


ROWS: list[str] = []


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedHub]:
    folder = tmp_path_factory.mktemp("hostile")
    with served_hub(folder, timeout_seconds=5.0, memory_mib=128, max_waiting=2) as served:
        served.post_story()
        yield served
    REPORT.parent.mkdir(exist_ok=True)
    header = "| request | answer | seconds | slowest /health | hub memory peak | store |\n"
    REPORT.write_text(header + "|---|---|---|---|---|---|\n" + "\n".join(ROWS) + "\n")


def _stored(hub: ServedHub) -> list[str]:
    answer = httpx.get(f"{hub.url}/messages", params={"limit": 1000}, timeout=30)
    return [entry["iri"] for entry in answer.json()["items"]]


def _send(hub: ServedHub, attack: Attack, client: httpx.Client) -> httpx.Response:
    headers = {**attack.headers, **(hub.auth(attack.writer) if attack.writer else {})}
    return client.request(
        attack.method, hub.url + attack.path, content=attack.content, headers=headers
    )


def _attack(hub: ServedHub, attack: Attack) -> httpx.Response:
    """Send the attack, watching /health; check and record what it left behind."""
    before = _stored(hub)
    watch = Watch(hub)
    started = time.monotonic()
    with httpx.Client(timeout=60) as client:
        try:
            answer = _send(hub, attack, client)
        finally:
            seconds = time.monotonic() - started
            watch.stop()
    unchanged = _stored(hub) == before
    ROWS.append(
        f"| {attack.name} | {answer.status_code} | {seconds:.3f} | {watch.slowest:.3f} | "
        f"{hub.resident_bytes(peak=True) >> 20} MiB | {'unchanged' if unchanged else 'CHANGED'} |"
    )
    assert hub.alive(), "the hub process ended"
    assert watch.failures == 0, "/health failed during the attack"
    assert unchanged, "the store changed"
    return answer


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda attack: attack.name)
def test_a_hostile_request_is_refused_with_a_problem_and_the_hub_lives_on(hub, attack):
    answer = _attack(hub, attack)
    assert answer.status_code in attack.refused_with
    if answer.status_code in (400, 409, 413):
        assert answer.headers["content-type"] == "application/problem+json"
    assert hub.healthy()


def test_a_request_line_of_a_megabyte_is_refused_and_the_hub_lives_on(hub):
    host, port = hub.url.removeprefix("http://").split(":")
    target = "/sparql?query=" + "%28" * 350_000
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        status_line = connection.makefile("rb").readline()
    assert status_line.split()[1:2] in ([b"400"], [b"414"], [b"431"], [])
    assert hub.alive() and hub.healthy()


def test_no_url_that_a_json_ld_context_names_is_fetched_in_any_position(hub):
    listener = Listener()
    try:
        for attack in _context_attacks(listener.url):
            assert _attack(hub, attack).status_code == 400
    finally:
        listener.close()
    assert listener.connections == 0


def test_a_file_url_in_a_context_tells_nothing_about_the_hubs_disk(hub):
    present, absent = "file:///etc/hostname", "file:///etc/no-such-file-here"
    answers = {
        url: [
            _attack(hub, attack).json()["detail"].replace(url, "URL")
            for attack in _context_attacks(url)
        ]
        for url in (present, absent)
    }
    assert answers[present] == answers[absent]


def test_a_relative_iri_is_refused_without_naming_the_hubs_folder(hub):
    answer = _attack(
        hub,
        _post(
            "JSON-LD @id that is a relative IRI",
            {"@context": CONTEXT_URL, "@id": "up", "@type": "heila:Offer"},
        ),
    )
    assert (answer.status_code, "file:" in answer.text, "'up'" in answer.json()["detail"]) == (
        400,
        False,
        True,
    )


def test_the_same_id_with_other_content_is_a_409_and_changes_nothing(hub):
    weather = httpx.get(f"{hub.url}/messages/weather-1").json()
    changed = json.dumps({**weather, "recipients": ["ams-1"]}).encode()
    attack = Attack(
        "a stored id with other content",
        "POST",
        "/messages",
        frozenset({409}),
        changed,
        {"content-type": "application/json"},
        weather["sender"],
    )
    answer = _attack(hub, attack)
    assert (answer.status_code, answer.json()["stored"]) == (409, "/messages/weather-1")


def _query(hub: ServedHub, sparql: str, timeout: float = 60) -> httpx.Response:
    return httpx.post(
        f"{hub.url}/sparql",
        content=sparql,
        headers={"content-type": "application/sparql-query"},
        timeout=timeout,
    )


def test_a_query_that_outgrows_its_memory_is_stopped_and_the_hub_keeps_its_own(hub):
    before = hub.resident_bytes()
    answer = _attack(
        hub,
        Attack(
            "ORDER BY over a cartesian product",
            "POST",
            "/sparql",
            frozenset({503}),
            f"SELECT * WHERE {CARTESIAN} ORDER BY ?a ?e ?i".encode(),
            {"content-type": "application/sparql-query"},
        ),
    )
    assert (answer.status_code, answer.json()["rule"]) == (503, "memory")
    assert hub.resident_bytes() - before < 64 << 20
    assert _query(hub, COUNT).status_code == 200


def test_a_query_past_its_time_is_stopped_and_its_worker_is_free_again(hub):
    answer = _attack(
        hub,
        Attack(
            "COUNT over a cartesian product",
            "POST",
            "/sparql",
            frozenset({503}),
            f"SELECT (COUNT(*) AS ?n) WHERE {CARTESIAN}".encode(),
            {"content-type": "application/sparql-query"},
        ),
    )
    assert (answer.status_code, answer.json()["rule"]) == (503, "timeout")
    assert _query(hub, COUNT).status_code == 200


def _post_plan(hub: ServedHub, identifier: str) -> httpx.Response:
    """A new message from its sender, as an actor would post it in the middle of an attack:
    the story's operation plan again, under another id."""
    plan = httpx.get(f"{hub.url}/messages/plan-1").json()
    return httpx.post(
        f"{hub.url}/messages",
        json={**plan, "id": identifier},
        headers=hub.auth(plan["sender"]),
        timeout=60,
    )


def test_expensive_queries_leave_writes_and_health_answering(hub):
    """Four clients run the costliest query the limits allow; a write and /health asked
    meanwhile are answered while the queries still run, and the queries past the pool's room
    are told at once that the hub is busy."""
    expensive = f"SELECT (COUNT(*) AS ?n) WHERE {CARTESIAN}"
    answers: list[int] = []
    ended: list[float] = []

    def run() -> None:
        answers.append(_query(hub, expensive).status_code)
        ended.append(time.monotonic())

    clients = [threading.Thread(target=run) for _ in range(4)]
    for client in clients:
        client.start()
    time.sleep(0.5)
    written = _post_plan(hub, "plan-under-load")
    healthy = hub.healthy()
    answered = time.monotonic()
    for client in clients:
        client.join()
    assert (written.status_code, healthy) == (201, True)
    assert answered < max(ended)
    assert sorted(answers) == [503, 503, 503, 503]


def test_an_administrators_endless_update_is_stopped_and_holds_no_write_meanwhile(hub):
    patterns = " . ".join(f"?s{n} ?p{n} ?o{n}" for n in range(8))
    update = f"WITH <{MESSAGE}offer-1> INSERT {{ }} WHERE {{ {patterns} }}"
    ended: list[float] = []

    def run() -> None:
        answer = httpx.post(
            f"{hub.url}/sparql",
            content=update,
            headers={"content-type": "application/sparql-update", **hub.auth(ADMINISTRATOR)},
            timeout=60,
        )
        ended.append(time.monotonic())
        answers.append(answer)

    answers: list[httpx.Response] = []
    updating = threading.Thread(target=run)
    updating.start()
    time.sleep(0.5)
    written = _post_plan(hub, "plan-during-update")
    answered = time.monotonic()
    updating.join()
    assert (written.status_code, answers[0].status_code, answers[0].json()["rule"]) == (
        201,
        503,
        "timeout",
    )
    assert answered < ended[0]
