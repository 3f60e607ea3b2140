"""Fixtures shared by the hub's tests: the example story, free ports and a real HTTP server."""

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from hub import message
from hub.message import Message

Serve = Callable[[FastAPI], str]
"""Start an app on a free port and answer its base URL."""

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def story_messages() -> list[Message]:
    """The coherent story of examples/valid, one message per file, in the order it was sent."""
    found = [
        message.parse(path.read_bytes(), "application/json")
        for path in (EXAMPLES / "valid").glob("*.json")
    ]
    return sorted(found, key=lambda m: m.time)


@pytest.fixture(scope="session")
def story() -> list[Message]:
    return story_messages()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Run FastAPI apps under uvicorn on free ports in threads; stop them after the test."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: FastAPI) -> str:
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def offer_document() -> dict[str, object]:
    """The story's offer in plain JSON, fresh for each test to change."""
    document: dict[str, object] = json.loads((EXAMPLES / "valid" / "offer.json").read_text())
    return document
