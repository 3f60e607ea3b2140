"""Schemathesis with every check against a real `heila serve`, anonymous and with a writer's
token: no server error, and no status code, content type or header the OpenAPI document does
not promise."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.served import ServedHub, served_hub

EXAMPLES_PER_OPERATION = "25"
ROOT = Path(__file__).resolve().parent.parent
"""Where schemathesis.toml is, which names tests/schemathesis_hooks.py."""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedHub]:
    with served_hub(tmp_path_factory.mktemp("fuzzed"), timeout_seconds=3.0) as served:
        served.post_story()
        yield served


def _schemathesis(hub: ServedHub, *headers: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{hub.url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        EXAMPLES_PER_OPERATION,
        "--generation-deterministic",
        *(option for header in headers for option in ("--header", header)),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)


def test_an_anonymous_client_finds_nothing_the_document_does_not_promise(hub):
    run = _schemathesis(hub)
    assert run.returncode == 0, run.stdout[-6000:]


def test_a_writer_finds_nothing_the_document_does_not_promise(hub):
    run = _schemathesis(hub, f"Authorization: Bearer {hub.tokens['mgms-1']}")
    assert run.returncode == 0, run.stdout[-6000:]
