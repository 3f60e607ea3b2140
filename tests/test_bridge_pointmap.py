"""The point map: the bridge's configuration as data, checked by its own shape at start-up."""

from pathlib import Path

import pytest
from bridge_fixtures import edited_copy, relay_map
from rdflib import Graph

from actors.bridge import pointmap
from hub.commands.cli import main

SHIPPED = pointmap.default_files()[0]


def edited(tmp_path: Path, old: str, new: str) -> Path:
    """The default station's point map with one edit, as an operator would make it."""
    return edited_copy(SHIPPED, tmp_path / "edited.ttl", old, new)


def test_shipped_point_maps_pass_their_shape() -> None:
    loaded = pointmap.load([SHIPPED, pointmap.shipped("substation-2.ttl")])
    assert (len(loaded.stations), len(loaded.points), len(loaded.commands)) == (2, 44, 6)


def test_point_names_feeder_quantity_unit_and_device() -> None:
    point = pointmap.load([SHIPPED]).points["feeder-1.resource-power"]
    assert (point.address, point.quantity, point.unit, point.location, point.device) == (
        1013,
        "activePower",
        "KiloW",
        "feeder-1",
        "battery-1",
    )


def test_two_points_at_one_address_are_refused_by_name(tmp_path: Path) -> None:
    bad = edited(tmp_path, "iec:address 1001 ;", "iec:address 1000 ;")
    with pytest.raises(pointmap.PointMapError, match=r"feeder-1\.voltage-l2: another point"):
        pointmap.load([bad])


def test_a_unit_outside_the_list_is_refused_naming_point_and_field(tmp_path: Path) -> None:
    bad = edited(tmp_path, "qudt:unit unit:HZ", "qudt:unit unit:KiloHZ")
    with pytest.raises(pointmap.PointMapError, match=r"feeder-1\.frequency unit: .*KiloHZ"):
        pointmap.load([bad])


def test_a_reported_point_without_a_unit_is_refused(tmp_path: Path) -> None:
    bad = edited(tmp_path, " ; qudt:unit unit:HZ", "")
    with pytest.raises(pointmap.PointMapError, match="needs both a quantity and a unit"):
        pointmap.load([bad])


def test_a_breaker_command_cannot_set_active_power_on_activation(tmp_path: Path) -> None:
    bad = edited(tmp_path, "iec:onActivation heila:Close", "iec:onActivation heila:SetActivePower")
    with pytest.raises(pointmap.PointMapError, match="acts on activation by Close or Open"):
        pointmap.load([bad])


@pytest.mark.parametrize(
    ("prefix", "said"),
    [
        (
            "",
            "point feeder-1.active-power is described over IEC 104 in {shipped} and over IEC "
            "61850 in {relay}",
        ),
        (
            "",
            "command feeder-1.setpoint-command is described over IEC 104 in {shipped} and over "
            "IEC 61850 in {relay}",
        ),
        (
            "ied-1.",
            "device battery-1 is commanded by feeder-1.setpoint-command over IEC 104 in "
            "{shipped} and by ied-1.feeder-1.setpoint-command over IEC 61850 in {relay}",
        ),
    ],
    ids=["point", "command", "device"],
)
def test_two_maps_that_describe_one_point_command_or_device_are_refused_naming_it_and_both(
    tmp_path: Path, prefix: str, said: str
) -> None:
    relay = relay_map(tmp_path, prefix)
    with pytest.raises(pointmap.PointMapError) as refused:
        pointmap.load([SHIPPED, relay])
    assert said.format(shipped=SHIPPED, relay=relay) in str(refused.value)


def test_a_command_of_both_protocols_in_one_map_is_two_commands_of_its_device(
    tmp_path: Path,
) -> None:
    both = tmp_path / "both.ttl"
    Graph().parse(SHIPPED).parse(relay_map(tmp_path, "")).serialize(both)
    with pytest.raises(
        pointmap.PointMapError,
        match=r"feeder-1\.setpoint-command: two commands act on the same device",
    ):
        pointmap.load([both])


def test_a_point_of_two_protocols_in_one_map_is_refused_by_name(tmp_path: Path) -> None:
    both = tmp_path / "both.ttl"
    Graph().parse(SHIPPED).parse(relay_map(tmp_path, "")).serialize(both)
    with pytest.raises(
        pointmap.PointMapError,
        match=r"feeder-1\.active-power: a point is read over one protocol",
    ):
        pointmap.load([both])


def test_a_station_time_zone_that_does_not_exist_is_refused_by_name(tmp_path: Path) -> None:
    bad = edited(tmp_path, "iec:port 2404 .", 'iec:port 2404 ; iec:timeZone "Europe/Espoo" .')
    with pytest.raises(pointmap.PointMapError, match="substation-1 timeZone: no time zone"):
        pointmap.load([bad])


def test_a_station_time_zone_is_read_from_the_map(tmp_path: Path) -> None:
    zoned = edited(tmp_path, "iec:port 2404 .", 'iec:port 2404 ; iec:timeZone "Europe/Helsinki" .')
    [station] = pointmap.load([zoned]).stations
    assert str(station.zone) == "Europe/Helsinki"


def test_a_file_that_is_not_turtle_is_refused_with_its_name(tmp_path: Path) -> None:
    bad = tmp_path / "broken.ttl"
    bad.write_text("point:x a iec:Point")
    with pytest.raises(pointmap.PointMapError, match=r"broken\.ttl: not valid Turtle"):
        pointmap.load([bad])


def test_cli_check_refuses_a_bad_map_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = edited(tmp_path, "iec:commonAddress 1 ;", "iec:commonAddress 70000 ;")
    assert main(["bridge", "--check", "--point-map", str(bad)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("heila bridge: point map: substation-1 commonAddress:")
    assert error.count("\n") == 1


def test_cli_check_refuses_two_maps_that_describe_one_point_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    relay = relay_map(tmp_path, "")
    assert main(["bridge", "--check", "--point-map", str(SHIPPED), "--point-map", str(relay)]) == 2
    [reason] = capsys.readouterr().err.splitlines()
    assert reason.startswith("heila bridge: point map: ")
    assert "point feeder-1.voltage-l1 is described over IEC 104 in" in reason


def test_cli_check_describes_a_good_map(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bridge", "--check"]) == 0
    assert capsys.readouterr().out == "point map ok: 1 stations, 30 points, 4 commands\n"
