"""mypy holds a message built as the actors build theirs to its information object: a misspelt
key or a word outside an enumeration is refused before the hub could see it."""

from pathlib import Path

import mypy.api

ROOT = Path(__file__).resolve().parent.parent

COMMAND = """from heila_client import objects, parts


def command(device: str, kilowatts: float) -> objects.ControlSignal:
    signal: objects.ControlSignal = {{
        "type": "ControlSignal",
        **parts.envelope("control", "mgms-1", ["microgrid-1"]),
        "device": device,
        "action": {action!r},
        {setpoint!r}: kilowatts,
    }}
    return signal
"""
"""An MGMS's command, as actors/mgms.py writes it: the envelope spread in, the optional keys
of a Control Signal's outcome left out."""


def checked(tmp_path: Path, action: str = "setActivePower", setpoint: str = "setpoint") -> str:
    """What mypy, as the project configures it, says of the command; empty when it takes it."""
    snippet = tmp_path / "command.py"
    snippet.write_text(COMMAND.format(action=action, setpoint=setpoint))
    report, _errors, status = mypy.api.run(
        [str(snippet), "--config-file", str(ROOT / "pyproject.toml")]
    )
    return report if status else ""


def test_mypy_takes_a_command_built_as_the_actors_build_it(tmp_path: Path) -> None:
    assert checked(tmp_path) == ""


def test_mypy_refuses_a_command_with_a_misspelt_key(tmp_path: Path) -> None:
    report = checked(tmp_path, setpoint="setpiont")
    assert 'Extra key "setpiont" for TypedDict "ControlSignal"' in report


def test_mypy_refuses_a_command_with_an_action_outside_the_enumeration(tmp_path: Path) -> None:
    report = checked(tmp_path, action="toggle")
    assert "Literal['toggle']" in report
    assert 'TypedDict item "action"' in report
