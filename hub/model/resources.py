"""Where the hub finds its data: the ontology, the shapes, the named queries and the examples.

A wheel carries them inside the package (hub/ontology, hub/shapes, ...); a checkout keeps
them at the top of the repository. Both layouts resolve here, nowhere else.
"""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent
"""the `hub` package: a wheel keeps the data in it"""


def _folder(name: str) -> Path:
    inside = _PACKAGE / name
    return inside if inside.is_dir() else _PACKAGE.parent / name


def ontology_dir() -> Path:
    return _folder("ontology")


def shapes_dir() -> Path:
    return _folder("shapes")


def queries_dir() -> Path:
    return _folder("queries")


def examples_dir() -> Path:
    return _folder("examples")


def docs_dir() -> Path:
    return _folder("docs")
