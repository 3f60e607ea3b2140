"""Ports: a program given a range of its own (HEILA_PORTS) listens only there, so programs
sharing a machine never take the port another has just let go of to listen on it again."""

import socket

import pytest

from hub.model.errors import UsageError
from hub.mqtt.broker import PORTS, free_port


def test_a_free_port_comes_from_the_range_heila_ports_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PORTS, "31000-31099")
    assert all(31000 <= free_port() <= 31099 for _ in range(20))


def test_a_range_with_no_free_port_is_refused_naming_the_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        monkeypatch.setenv(PORTS, f"{port}-{port}")
        with pytest.raises(UsageError, match=f"no free port in {PORTS}={port}-{port}"):
            free_port()
