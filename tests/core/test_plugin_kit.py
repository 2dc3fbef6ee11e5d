"""The plugin kit (`enishi.plugin`): the only Enishi module a plugin imports, every name documented,
its API pinned by a committed snapshot and its reference generated."""

import ast
import difflib
import subprocess
import sys
from pathlib import Path

import pytest

import enishi.plugin as kit
from enishi import kitdoc

pytestmark = pytest.mark.no_database  # reads the kit and the source only
ROOT = Path(__file__).resolve().parents[2]
# Each folder holds plugin packages: plugins/abm/, docs/example_plugin/enishi_nps/, ...
PLUGIN_FOLDERS = (ROOT / "plugins", ROOT / "docs" / "example_plugin")
KIT = "enishi.plugin"


def internal_imports(source: str, package_depth: int) -> list[str]:
    """The imports in `source` that reach Enishi other than through the kit: `from enishi.x import`,
    `import enishi.x`, `from enishi import x`, and relative imports climbing out of the plugin
    package (`package_depth`: how many packages deep the module sits, 1 for `abm/schema.py`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            if node.module and (node.module == "enishi" or node.module.startswith("enishi.")) and node.module != KIT:
                found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.ImportFrom) and node.level > package_depth:
            found.append(f"line {node.lineno}: from {'.' * node.level}{node.module or ''} import ... (leaves the plugin package)")
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {alias.name}"
                for alias in node.names
                if (alias.name == "enishi" or alias.name.startswith("enishi.")) and alias.name != KIT
            ]
    return found


@pytest.mark.parametrize(
    ("source", "depth"),
    [
        ("from enishi.db import Base", 1),
        ("from enishi import crypto", 1),
        ("import enishi.db", 3),
        ("import enishi", 1),
        ("def f():\n    from enishi.models import Contact", 1),
        ("from .. import loyalty", 1),
        ("from ....graphql import types", 3),
    ],
)
def test_the_import_check_catches_each_way_into_the_core(source, depth):
    assert internal_imports(source, depth)


@pytest.mark.parametrize(
    ("source", "depth"),
    [
        ("from enishi.plugin import Base, hookimpl", 1),
        ("import enishi.plugin", 3),
        ("from . import models", 1),
        ("from ...models import Base", 3),
        ("import strawberry\nfrom sqlalchemy import select", 1),
    ],
)
def test_the_import_check_accepts_the_kit_and_the_plugins_own_package(source, depth):
    assert internal_imports(source, depth) == []


def test_bundled_and_example_plugins_import_only_the_kit():
    offences = {}
    for folder in PLUGIN_FOLDERS:
        for path in sorted(folder.rglob("*.py")):
            if "build" in path.relative_to(folder).parts:  # a copy setuptools left from some earlier build, not a source
                continue
            depth = len(path.relative_to(folder).parts) - 1
            found = internal_imports(path.read_text(encoding="utf-8"), depth)
            if found:
                offences[str(path.relative_to(ROOT))] = found
    assert not offences, f"plugins must import Enishi only through `{KIT}` (add what they need to core/plugin.py): {offences}"


def test_the_kit_exports_exactly_its_documented_names():
    names = kit.__all__
    assert len(names) == len(set(names))
    public = {n for n in vars(kit) if n.isidentifier() and not n.startswith("_")}  # not pytest's `@py_builtins`
    assert public == set(names), "a public name of core/plugin.py is missing from __all__"
    grouped = [name for _, group in kitdoc.groups() for name in group]
    assert grouped == names
    undocumented = [name for name in names if not kitdoc.doc(name).strip()]
    assert not undocumented, (
        f"document these kit names (a docstring at their definition, or under them in core/plugin.py): {undocumented}"
    )


def test_the_kit_api_matches_its_committed_snapshot():
    committed = (ROOT / "docs" / "plugin-kit-api.txt").read_text(encoding="utf-8")
    current = kitdoc.snapshot()
    diff = "".join(difflib.unified_diff(committed.splitlines(True), current.splitlines(True), "committed", "current"))
    assert committed == current, (
        "the plugin kit's API changed. If that is intended, run `make kit-api` (or `enishi kit-api > docs/plugin-kit-api.txt`) "
        "and record the change in CHANGELOG.md under Unreleased: a removed or changed name is a breaking change for plugins.\n"
        + diff
    )


def test_the_kit_reference_is_current():
    assert (ROOT / "docs" / "plugin-kit.md").read_text(encoding="utf-8") == kitdoc.render(), (
        "docs/plugin-kit.md is stale: run `make docs`"
    )


@pytest.mark.parametrize(("command", "committed"), [("kit-api", "plugin-kit-api.txt"), ("kit-doc", "plugin-kit.md")])
def test_cli_prints_the_kit_files(command, committed):
    result = subprocess.run([sys.executable, "-m", "enishi.cli", command], capture_output=True, text=True, check=True)
    assert result.stdout == (ROOT / "docs" / committed).read_text(encoding="utf-8")
