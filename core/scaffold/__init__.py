"""`enishi plugin new NAME`: write a working plugin package to start from.

The files under `template/` are `string.Template`s (`$name` is the plugin name, `$Name` its
capitalised form for GraphQL type names; `$$` is a literal `$`, as in GraphQL variables); the
`.tmpl` suffix keeps them from being imported, linted or collected as tests here. Paths are
templates too (`enishi_${name}/`)."""

from __future__ import annotations

import keyword
import re
import string
from importlib.metadata import entry_points
from importlib.resources import files
from pathlib import Path

from ..plugin_host import CORE_PLUGIN, ENTRY_POINT_GROUP

TEMPLATE = files(__package__) / "template"
SUFFIX = ".tmpl"
# Tables are named `<plugin>_…` and the personal-data catalog finds a table's plugin by the part
# before the first underscore, so a name with an underscore would escape the catalog's check.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*")


class ScaffoldError(Exception):
    """The plugin cannot be written as asked: the message says why, in one line."""


def check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name) or keyword.iskeyword(name):
        raise ScaffoldError(
            f"{name!r} is not a plugin name: use lower-case letters and digits, starting with a letter "
            "(it prefixes the plugin's tables, events and permissions)"
        )
    taken = {CORE_PLUGIN} | {entry_point.name for entry_point in entry_points(group=ENTRY_POINT_GROUP)}
    if name in taken:
        raise ScaffoldError(f"a plugin named {name!r} is already installed: choose another name")


def create_plugin(name: str, directory: Path | None = None) -> Path:
    """Write the plugin package `enishi-<name>` into `directory` (default `./enishi-<name>`),
    which must not exist yet; returns the directory written."""
    check_name(name)
    target = Path(directory) if directory is not None else Path(f"enishi-{name}")
    if target.exists():
        raise ScaffoldError(f"{target} already exists: choose a new directory (nothing was written)")
    values = {"name": name, "Name": name.capitalize()}
    for source, relative in _template_files(TEMPLATE, ""):
        destination = target / string.Template(relative.removesuffix(SUFFIX)).substitute(values)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(string.Template(source.read_text(encoding="utf-8")).substitute(values), encoding="utf-8")
    return target


def _template_files(folder, prefix: str):
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        relative = f"{prefix}{entry.name}"
        if entry.is_dir():
            yield from _template_files(entry, relative + "/")
        elif entry.name.endswith(SUFFIX):
            yield entry, relative
