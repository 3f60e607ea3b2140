"""The hub's rooms import downward only: the message model at the bottom, the doors on the core,
the commands on top. A module may import from its own tier and the tiers below it, never above.
"""

import ast
from pathlib import Path

HUB = Path(__file__).resolve().parent.parent / "hub"

TIERS: tuple[tuple[str, ...], ...] = (
    ("hub.model",),
    ("hub.config", "hub.lifecycle"),
    ("hub.storage",),
    ("hub.trust",),
    ("hub.intake",),
    ("hub.web", "hub.mqtt", "hub.cluster"),
    ("hub.app",),
    ("hub.commands",),
)
"""The order of the rooms, lowest first: the settings and the background contract every room
reads, the store, who may do what, the one write path, the doors, the application, the
commands."""


def _name(path: Path) -> str:
    parts = path.relative_to(HUB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _tier(name: str) -> int | None:
    """The tier of a module (or of a name inside one), None for one outside every room."""
    for tier, rooms in enumerate(TIERS):
        if any(name == room or name.startswith(room + ".") for room in rooms):
            return tier
    return None


def _above(imported: str, importer: str) -> bool:
    theirs, mine = _tier(imported), _tier(importer)
    return theirs is not None and mine is not None and theirs > mine


def _imported(tree: ast.Module) -> list[str]:
    """Every name of the hub a module imports, wherever the import stands (functions and
    TYPE_CHECKING blocks too): `from hub.web import api` names hub.web.api."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return [name for name in names if name.startswith("hub.")]


MODULES = {
    _name(path): ast.parse(path.read_text(), str(path))
    for path in sorted(HUB.rglob("*.py"))
    if path != HUB / "__init__.py"
}


def test_every_module_of_the_hub_stands_in_a_room_of_the_order() -> None:
    assert [name for name in MODULES if _tier(name) is None] == []


def test_no_module_of_the_hub_imports_from_a_room_above_its_own() -> None:
    upward = [
        f"{name} imports {imported}"
        for name, tree in MODULES.items()
        for imported in _imported(tree)
        if _above(imported, name)
    ]
    assert upward == []
