"""The vendored browser libraries: the versions package.json names, each with its licence, and
the folders the pages load them from."""

import json
from pathlib import Path

from hub.web import assets

ROOT = Path(__file__).resolve().parent.parent
VENDOR = assets.STATIC / "vendor"


def test_each_vendored_library_is_the_version_package_json_names():
    named = json.loads((ROOT / "package.json").read_text())["dependencies"]
    expected = {f"{name.rsplit('/', 1)[-1]}-{version}" for name, version in named.items()}
    assert {folder.name for folder in VENDOR.iterdir()} == expected


def test_each_vendored_library_carries_its_licence():
    for folder in VENDOR.iterdir():
        assert (folder / "LICENSE").is_file(), folder.name


def test_the_pages_load_the_libraries_from_folders_that_exist():
    for folder in (assets.YASGUI, assets.SWAGGER_UI, assets.REDOC):
        assert (assets.STATIC / folder).is_dir(), folder
