"""A wheel built from the repository carries the ontology, the shapes, the queries, the
handbook, the browser files of the console and the API docs, and the Python client."""

import json
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import json
import heila_client
from hub.model.ontology import load_ontology
from hub.model.resources import examples_dir, ontology_dir, queries_dir
from hub.model.shapes import shapes
from hub.web.assets import STATIC
from hub.web.guide import documents
print(json.dumps({
    "client": heila_client.__file__,
    "static": str(STATIC),
    "vendored": sorted(p.name.rsplit("-", 1)[0] for p in (STATIC / "vendor").iterdir()),
    "guides": sorted(documents()),
    "ontology": str(ontology_dir()),
    "triples": len(load_ontology()),
    "objects": len(shapes().objects),
    "queries": len(list(queries_dir().glob("*.rq"))),
    "examples": len(list((examples_dir() / "valid").glob("*.json"))),
}))
"""


@pytest.mark.slow
def test_installed_wheel_finds_its_data_outside_the_checkout(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = (tmp_path / "dist").glob("heila_hub-*.whl")
    fresh = tmp_path / "fresh"
    venv.create(fresh, with_pip=True)
    python = fresh / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", wheel], check=True)
    # The fresh environment borrows the dependencies, not the checkout: a path in a .pth
    # file adds the directory without running the editable install's hook inside it.
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run = subprocess.run(
        [python, "-c", PROBE], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    found = json.loads(run.stdout)
    assert found["ontology"].startswith(site)
    assert found["triples"] > 500
    assert found["objects"] == 12
    assert found["queries"] >= 8
    assert found["examples"] == 12
    assert found["static"].startswith(site)
    assert found["client"].startswith(site)
    assert found["vendored"] == ["redoc", "swagger-ui-dist", "yasgui"]
    assert {"dataset", "messages", "configuration"} <= set(found["guides"])
