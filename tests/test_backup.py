"""Backup and restore: a dump loaded into an empty store gives back exactly the same quads."""

import io
from pathlib import Path

import pytest
from conftest import EXAMPLES

from hub.commands.cli import main
from hub.model import pointmaps
from hub.model.errors import Invalid, ParseError, QueryRefused
from hub.model.message import Message
from hub.storage.store import OxigraphStore, open_store


def filled(story: list[Message], location: str = "memory") -> OxigraphStore:
    store = open_store(location)
    for message in story:
        store.put(message)
    return store


def dumped(store: OxigraphStore) -> list[str]:
    out = io.BytesIO()
    store.dump(out)
    return sorted(out.getvalue().decode().splitlines())


def test_a_dump_loaded_into_an_empty_store_dumps_the_same_quads(story):
    original = filled(story)
    restored = open_store("memory")
    restored.load(io.BytesIO("\n".join(dumped(original)).encode()))
    assert dumped(restored) == dumped(original)


def test_a_restored_store_continues_the_commit_order(story):
    restored = open_store("memory")
    restored.load(io.BytesIO("\n".join(dumped(filled(story[:-1]))).encode()))
    assert restored.put(story[-1]).sequence == len(story)


def test_heila_dump_and_load_round_trip_through_a_file(tmp_path: Path, story, capsys):
    filled(story, str(tmp_path / "original")).close()
    assert main(["dump", str(tmp_path / "backup.nq"), "--store", str(tmp_path / "original")]) == 0
    assert main(["load", str(tmp_path / "backup.nq"), "--store", str(tmp_path / "copy")]) == 0
    assert main(["dump", str(tmp_path / "again.nq"), "--store", str(tmp_path / "copy")]) == 0
    first = sorted((tmp_path / "backup.nq").read_text().splitlines())
    assert sorted((tmp_path / "again.nq").read_text().splitlines()) == first


def test_loading_into_a_store_that_holds_messages_is_refused(story):
    store = filled(story)
    before = dumped(store)
    with pytest.raises(QueryRefused, match="empty store"):
        store.load(io.BytesIO("\n".join(before).encode()))
    assert dumped(store) == before


def test_a_dump_with_a_broken_line_is_refused_whole(story):
    lines = dumped(filled(story))
    store = open_store("memory")
    with pytest.raises(ParseError) as raised:
        store.load(io.BytesIO("\n".join([*lines[:5], "<broken", *lines[5:]]).encode()))
    assert (raised.value.line, dumped(store)) == (6, [])


def test_heila_load_of_an_invalid_message_exits_2_and_stores_nothing(tmp_path: Path, story, capsys):
    lines = dumped(filled(story))
    broken = [line.replace('"EUR"', '"euro"') for line in lines]
    (tmp_path / "broken.nq").write_text("\n".join(broken))
    assert main(["load", str(tmp_path / "broken.nq"), "--store", str(tmp_path / "store")]) == 2
    assert "currency" in capsys.readouterr().err
    assert dumped(open_store(str(tmp_path / "store"))) == []


def test_heila_dump_of_a_missing_store_exits_2_with_one_line(tmp_path: Path, capsys):
    assert main(["dump", str(tmp_path / "out.nq"), "--store", str(tmp_path / "none")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "out.nq").exists()


def test_a_dump_is_checked_with_its_own_point_maps(story):
    """A power factor past its range is refused on load by the quantity the dump's point map
    gives its point, as it would have been when taken in."""
    original = filled(story)
    original.publish_point_map(
        pointmaps.graph_of("example"), pointmaps.read([EXAMPLES / "pointmap.ttl"])
    )
    lines = dumped(original)
    [factor] = [n for n, line in enumerate(lines) if "#reading-5> " in line and "#value>" in line]
    value = lines[factor].split(" ", 2)[2].rsplit(" ", 2)[0]
    lines[factor] = lines[factor].replace(value, '"1.5"^^<http://www.w3.org/2001/XMLSchema#double>')
    store = open_store("memory")
    with pytest.raises(Invalid) as raised:
        store.load(io.BytesIO("\n".join(lines).encode()))
    assert [(v.field, v.rule) for v in raised.value.violations] == [
        ("readings[5].value", "powerFactorRange")
    ]
    assert dumped(store) == []


def test_a_dump_whose_point_maps_describe_one_point_twice_is_refused(story):
    """Two maps of one point in a dump (written by hand, or by a hub before the check) would
    give its readings two units once loaded: the load refuses them and stores nothing."""
    original = filled(story)
    original.publish_point_map(
        pointmaps.graph_of("example"), pointmaps.read([EXAMPLES / "pointmap.ttl"])
    )
    lines = dumped(original)
    example = f"<{pointmaps.GRAPHS}example> ."
    twice = [
        line.replace(example, f"<{pointmaps.GRAPHS}copy> .") for line in lines if example in line
    ]
    store = open_store("memory")
    with pytest.raises(QueryRefused, match=r"the dump's point maps disagree: point .* in copy"):
        store.load(io.BytesIO("\n".join([*lines, *twice]).encode()))
    assert dumped(store) == []
