"""`heila bench` end to end: every scenario runs to its figure. Few rounds, so no figure is
judged here; the figures themselves are quoted from full runs."""

import importlib
import subprocess
from pathlib import Path

from hub.commands.bench import HEADER, HEILA, SCENARIO_MODULES, SCENARIOS, Figure

ROOT = Path(__file__).resolve().parent.parent


def test_every_scenario_prints_its_headline_figure():
    for module in SCENARIO_MODULES:  # they register their scenarios when imported
        importlib.import_module(module)
    result = subprocess.run(
        [*HEILA, "bench", "--count", "2"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    headlines = [line for line in result.stdout.splitlines() if line and line[0] != " "]
    assert headlines[0] == HEADER
    assert len(headlines) == 1 + len(SCENARIOS), result.stdout


def test_a_figure_of_a_single_round_prints_that_round_as_its_median_and_p99():
    """A scenario whose other rounds failed (a lost confirmation) still prints its row."""
    row = Figure("command -> confirmed", 2, (0.004,)).row()
    assert row.split()[-3:-1] == ["4.00", "4.00"]
