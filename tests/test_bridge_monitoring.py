"""Monitoring direction: what the stations report lands in the hub as Measurement readings."""

import struct
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import c104
import httpx
from bridge_fixtures import ACTOR, FieldHub, MakeBridge, default_point_map, eventually

from actors.bridge import pointmap
from actors.bridge.iec104.link import number, quality_flags
from actors.bridge.monitoring import Converter, Sample, device_time, scaled
from hub.model import pointmaps
from substation.server import Substation

POINT_MAP = default_point_map()


def sample(point: str, value: float = 231.5, quality: tuple[str, ...] = ()) -> Sample:
    measured = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    return Sample(POINT_MAP.points[point], value, quality, measured, 1_767_323_045_700_000_000)


def test_reading_carries_its_point_value_and_device_time_only() -> None:
    converter = Converter(POINT_MAP, ACTOR)
    location, reading = converter.reading(sample("feeder-1.voltage-l1")) or (None, {})
    assert location == "feeder-1"
    assert reading == {
        "point": "feeder-1.voltage-l1",
        "value": 231.5,
        "time": "2026-01-02T03:04:05.678000+00:00",
    }


def test_a_measurement_was_received_when_its_earliest_sample_was() -> None:
    first = sample("feeder-1.voltage-l1")
    later = sample("feeder-1.voltage-l2")._replace(received_ns=first.received_ns + 5_000_000)
    (message,) = Converter(POINT_MAP, ACTOR).messages([later, first])
    assert message["receivedAt"] == "2026-01-02T03:04:05.700000+00:00"


def float32(value: float) -> float:
    """The value as it crosses an IEC 104 link as a short float."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def test_a_short_float_is_stored_as_the_decimal_the_device_meant() -> None:
    _, reading = Converter(POINT_MAP, ACTOR).reading(
        sample("feeder-1.voltage-l1", float32(231.636))
    ) or (None, {})
    assert (float32(231.636), reading["value"]) == (231.63600158691406, 231.636)


def test_a_scale_is_applied_in_decimal() -> None:
    assert (1168.0 * 0.1, scaled(float32(1168.0), 0.1, "M_ME_NC_1")) == (116.80000000000001, 116.8)


def test_a_scaled_integer_type_keeps_every_digit() -> None:
    assert scaled(2_147_483_647.0, 1.0, "M_ME_NB_1") == 2_147_483_647.0


def test_a_device_time_is_read_in_its_stations_zone() -> None:
    # c104 hands back the stamp's fields read as UTC, rendered in the bridge host's zone
    stamp = datetime(2026, 6, 1, 12, 0).replace(tzinfo=UTC).astimezone().replace(tzinfo=None)
    helsinki = device_time(stamp, ZoneInfo("Europe/Helsinki"))
    assert helsinki == datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def test_iec_104_quality_bits_become_the_readings_flags() -> None:
    flagged = c104.Quality.Invalid | c104.Quality.NonTopical
    assert quality_flags(flagged.value) == ("invalid", "notTopical")


def test_quality_flags_appear_only_when_not_good() -> None:
    converter = Converter(POINT_MAP, ACTOR)
    _, good = converter.reading(sample("feeder-1.voltage-l1")) or (None, {})
    _, bad = converter.reading(sample("feeder-1.voltage-l1", quality=("invalid",))) or (None, {})
    assert ("quality" in good, bad["quality"]) == (False, ["invalid"])


def test_breaker_position_is_the_double_point_state_of_its_device() -> None:
    position = sample("feeder-1.breaker-position", number(c104.Double.OFF))
    _, reading = Converter(POINT_MAP, ACTOR).reading(position) or (None, {})
    assert (reading["point"], reading["value"]) == ("feeder-1.breaker-position", 1.0)
    assert POINT_MAP.points["feeder-1.breaker-position"].device == "breaker-1"


def test_a_batch_becomes_one_measurement_per_feeder() -> None:
    messages = Converter(POINT_MAP, ACTOR).messages(
        [
            sample("feeder-1.voltage-l1"),
            sample("feeder-2.voltage-l1"),
            sample("feeder-1.voltage-l2"),
        ]
    )
    assert sorted((m["location"], len(m["readings"])) for m in messages) == [
        ("feeder-1", 2),
        ("feeder-2", 1),
    ]


def test_measurements_land_as_triples_with_their_units(
    field_hub: FieldHub, substation: Substation, make_bridge: MakeBridge
) -> None:
    published = pointmaps.read(pointmap.default_files())
    field_hub.store.publish_point_map(pointmaps.graph_of("substations"), published)
    make_bridge(field_hub, substation)
    rows = eventually(
        lambda: field_hub.select(
            "SELECT ?unit ?value WHERE { ?r heila:point ?point ; rdf:value ?value . "
            "?point qudt:unit ?unit . "
            "FILTER(?point = <https://w3id.org/heila/point/feeder-1.active-power>) }"
        )
    )
    assert rows[0][0] == "http://qudt.org/vocab/unit/KiloW"


def test_invalid_values_are_kept_with_their_flags(
    field_hub: FieldHub, substation: Substation, make_bridge: MakeBridge
) -> None:
    make_bridge(field_hub, substation)
    substation.set_quality(1, 1002, c104.Quality.Invalid)
    rows = eventually(
        lambda: field_hub.select(
            "SELECT ?flag WHERE { ?r heila:point <https://w3id.org/heila/point/"
            "feeder-1.voltage-l3> ; heila:quality ?flag }"
        )
    )
    assert rows[0][0] == "https://w3id.org/heila/ontology#Invalid"


def test_a_large_batch_is_split_into_messages_the_hub_accepts() -> None:
    samples = [sample("feeder-1.voltage-l1") for _ in range(2500)]
    messages = Converter(POINT_MAP, ACTOR).messages(samples)
    assert [len(m["readings"]) for m in messages] == [1000, 1000, 500]


def test_the_latest_value_of_every_point_is_answered_by_a_named_query(
    field_hub: FieldHub, substation: Substation, make_bridge: MakeBridge
) -> None:
    make_bridge(field_hub, substation)
    for value in (231.25, 232.5):
        substation.report(1, 1000, value)
        time.sleep(0.01)  # device time stamps count milliseconds

    def latest_voltage() -> float | None:
        answer = httpx.get(
            f"{field_hub.url}/queries/latest-values",
            headers={"Accept": "application/sparql-results+json"},
        )
        for row in answer.json()["results"]["bindings"]:
            if row["point"]["value"].endswith("/feeder-1.voltage-l1"):
                return float(row["value"]["value"])
        return None

    eventually(lambda: latest_voltage() == 232.5)


def test_a_value_crosses_the_link_and_lands_without_float32_noise(
    field_hub: FieldHub, substation: Substation, make_bridge: MakeBridge
) -> None:
    make_bridge(field_hub, substation)
    substation.report(1, 1000, 231.636)
    eventually(lambda: "231.636" in {row[0] for row in field_hub.select(VOLTAGES)})


VOLTAGES = (
    "SELECT ?value WHERE { ?r heila:point <https://w3id.org/heila/point/feeder-1.voltage-l1> ; "
    "rdf:value ?value }"
)
