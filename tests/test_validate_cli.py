"""`heila validate`: a line per file, a line per broken rule, and an exit status that says which."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hub.commands.cli import main

VALID = Path(__file__).resolve().parent.parent / "examples" / "valid"


def test_valid_files_print_valid_and_exit_zero(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(VALID / "offer.json"), str(VALID / "offer.ttl")]
    assert main(["validate", *files]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{f}: valid" for f in files]


def test_a_broken_rule_prints_one_line_and_exits_one(
    tmp_path: Path, offer_document: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    offer_document["end"] = "2026-11-26T16:00:00+02:00"
    file = tmp_path / "offer.json"
    file.write_text(json.dumps(offer_document))
    assert main(["validate", str(file)]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{file}: offer-1: start: lessThan: ")


def test_every_broken_rule_gets_its_line(
    tmp_path: Path, offer_document: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    offer_document["power"] = -5
    del offer_document["location"]
    file = tmp_path / "offer.json"
    file.write_text(json.dumps(offer_document))
    assert main(["validate", str(file)]) == 1
    rules = [line.split(": ")[2:4] for line in capsys.readouterr().out.splitlines()]
    assert rules == [["location", "minCount"], ["power", "minInclusive"]]


def test_a_file_that_does_not_parse_exits_two_with_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "broken.json"
    file.write_text('{"type": "Offer",\n  "id": }')
    assert main(["validate", str(file)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"{file}: does not parse: Expecting value at line 2, column 9"
    )


def test_references_between_given_files_are_checked(
    tmp_path: Path, offer_document: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    offer_document["flexibility"] = "bid-1"
    file = tmp_path / "offer.json"
    file.write_text(json.dumps(offer_document))
    assert main(["validate", str(file), str(VALID / "bid.json")]) == 1
    assert ": flexibility: class: " in capsys.readouterr().out


def test_the_installed_command_reports_without_a_trace(tmp_path: Path) -> None:
    file = tmp_path / "broken.ttl"
    file.write_text("@prefix h: <https://w3id.org/heila/ontology#> .\nh:a h:b")
    run = subprocess.run(
        [sys.executable, "-m", "hub.commands.cli", "validate", str(file)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert run.stderr.startswith(f"{file}: does not parse: ") and "line 2" in run.stderr
