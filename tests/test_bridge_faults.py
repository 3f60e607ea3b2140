"""Faults the bridge survives: a device restart (also over TLS), a dropped link, an absent hub,
a stray point."""

import itertools
import logging
from pathlib import Path

import pytest
from bridge_fixtures import (
    Cable,
    FieldHub,
    MakeBridge,
    TlsStation,
    eventually,
    free_port,
)
from rdflib import Graph, URIRef

from actors.bridge import pointmap
from substation.server import Substation

BREAKER_READINGS = (
    "SELECT (COUNT(?r) AS ?n) WHERE { ?r heila:point "
    "<https://w3id.org/heila/point/feeder-1.breaker-position> }"
)


def breaker_readings(hub: FieldHub) -> int:
    """The breaker's position is only sent on interrogation or change: it counts interrogations."""
    return int(hub.select(BREAKER_READINGS)[0][0])


def test_after_a_device_restart_the_bridge_reconnects_and_interrogates_again(
    field_hub: FieldHub, substation: Substation, make_bridge: MakeBridge
) -> None:
    make_bridge(field_hub, substation)
    before = eventually(lambda: breaker_readings(field_hub))
    substation.restart()
    eventually(lambda: breaker_readings(field_hub) > before)


def test_after_a_device_restart_the_link_over_tls_reconnects_and_interrogates_again(
    field_hub: FieldHub, make_bridge: MakeBridge, tls_station: TlsStation
) -> None:
    station, tls = tls_station
    make_bridge(field_hub, station, tls=tls)
    before = eventually(lambda: breaker_readings(field_hub))
    station.restart()
    eventually(lambda: breaker_readings(field_hub) > before)


def test_after_the_link_drops_the_bridge_reconnects_and_interrogates_again(
    field_hub: FieldHub, substation: Substation, make_bridge: MakeBridge
) -> None:
    station = substation.config.stations[0]
    cable = Cable((station.host, station.port))
    make_bridge(field_hub, substation, endpoints={station.name: ("127.0.0.1", cable.port)})
    before = eventually(lambda: breaker_readings(field_hub))
    cable.cut()
    eventually(lambda: breaker_readings(field_hub) > before)
    cable.close()


def test_while_a_station_is_unreachable_the_pauses_between_tries_double(
    field_hub: FieldHub,
    substation: Substation,
    make_bridge: MakeBridge,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="heila.bridge.link")
    nowhere = {substation.config.stations[0].name: ("127.0.0.1", free_port())}
    make_bridge(field_hub, substation, wait=None, endpoints=nowhere, reconnect_backoff=(0.2, 1.6))

    def tries() -> list[float]:
        return [r.created for r in caplog.records if r.getMessage().endswith("CLOSED_AWAIT_OPEN")]

    eventually(lambda: len(tries()) >= 5)
    pauses = [later - earlier for earlier, later in itertools.pairwise(tries()[:5])]
    # a busy machine can only lengthen a pause; c104's own retries would come once a second
    assert all(p >= 0.95 * due for p, due in zip(pauses, (0.2, 0.4, 0.8, 1.6), strict=True)), pauses


def test_while_the_hub_is_away_values_wait_on_disk_and_arrive_in_order(
    field_hub: FieldHub, substation: Substation, make_bridge: MakeBridge
) -> None:
    bridge = make_bridge(field_hub, substation)
    eventually(lambda: breaker_readings(field_hub))
    field_hub.stop()
    sent = [230.0 + step / 100 for step in range(1, 6)]
    for value in sent:
        substation.report(1, 1000, value)
        eventually(lambda: bridge.uplink.pending > 0)
    field_hub.start()
    # The buffer may be flushed before the simulator's queue has sent the last values: wait
    # until every value has come through, then hold them to their order.
    eventually(lambda: len(_voltages(field_hub)) >= len(sent) and bridge.uplink.pending == 0)
    assert _voltages(field_hub)[-len(sent) :] == sent


def _voltages(field_hub: FieldHub) -> list[float]:
    stored = field_hub.store.messages(type="Measurement", limit=1000)
    return [
        round(reading["value"], 2)
        for entry in stored
        for reading in field_hub.store.get(entry.iri).to_json()["readings"]  # type: ignore[union-attr]
        if reading["point"] == "feeder-1.voltage-l1" and 230.0 < reading["value"] < 230.06
    ]


def test_a_value_outside_the_point_map_is_logged_and_the_rest_still_flows(
    field_hub: FieldHub,
    substation: Substation,
    make_bridge: MakeBridge,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    shipped = Graph().parse(pointmap.default_files()[0])
    for subject in {s for s in shipped.subjects() if "feeder-2" in str(s)}:
        shipped.remove((URIRef(str(subject)), None, None))
    without_feeder_2 = tmp_path / "feeder-1-only.ttl"
    shipped.serialize(without_feeder_2, format="turtle")
    with caplog.at_level(logging.WARNING, logger="heila.bridge.link"):
        bridge = make_bridge(field_hub, substation, maps=[without_feeder_2])
        eventually(lambda: breaker_readings(field_hub))
    assert bridge.field.clients["iec104"].outside_map > 0
    assert "address 2000, which the point map does not name" in caplog.text


def test_a_point_mapped_with_the_wrong_type_is_named_once_and_not_asked_for_again(
    field_hub: FieldHub,
    substation: Substation,
    make_bridge: MakeBridge,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    text = pointmap.default_files()[0].read_text()
    wrong = text.replace(
        'iec:address 1000 ; iec:type "M_ME_TF_1"', 'iec:address 1000 ; iec:type "M_ME_NC_1"'
    )
    mistyped = tmp_path / "mistyped.ttl"
    mistyped.write_text(wrong)
    named = (
        "station 1 sends M_ME_TF_1 for point feeder-1.voltage-l1 (address 1000), which the "
        "point map types M_ME_NC_1"
    )
    with caplog.at_level(logging.WARNING, logger="heila.bridge.link"):
        bridge = make_bridge(field_hub, substation, maps=[mistyped], wait=None)
        eventually(lambda: named in caplog.text, 20)
        eventually(lambda: bridge.field.connected and breaker_readings(field_hub), 20)
        warned = caplog.text.count("interrogation unconfirmed or incomplete")
        substation.restart()  # the bridge interrogates again, and waits for the point no more
        eventually(lambda: breaker_readings(field_hub) > 1, 20)
    assert caplog.text.count(named) == 1
    assert caplog.text.count("interrogation unconfirmed or incomplete") == warned
