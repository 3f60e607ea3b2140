"""Free ports for the servers the hub, the demo and the tests start."""

import pytest

from hub.mqtt import broker
from hub.mqtt.broker import PORTS, free_port


def test_ports_asked_for_one_after_another_are_distinct_though_none_listens_yet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hub's MQTT port and HTTP port are drawn before either listens; drawn from eight, four
    in a row would repeat one 59 % of the time without the process remembering its draws."""
    monkeypatch.setenv(PORTS, "47000-47007")
    for _ in range(20):
        monkeypatch.setattr(broker, "_HANDED_OUT", set())
        assert len({free_port() for _ in range(4)}) == 4
