"""The console's Japanese catalog, and the privacy plugin's for the data subject's pages, cover
every message of their templates, and each shipped .mo is the compiled .po (`make catalogs`)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import enishi.graphql.console as console
import enishi.plugins.privacy as privacy

# Each package with its catalog, and the files its messages are extracted from (its babel.cfg).
PACKAGES = {
    "console": (Path(console.__file__).parent, [("**/templates/**.html", "jinja2"), ("**.py", "python")]),
    "privacy": (Path(privacy.__file__).parent, [("templates/**.html", "jinja2"), ("pages.py", "python")]),
}


def _po(package: Path):
    with open(package / "locale" / "ja" / "LC_MESSAGES" / "messages.po", "rb") as file:
        return read_po(file)


@pytest.mark.parametrize("name", PACKAGES)
def test_every_message_of_the_templates_has_a_japanese_translation(name):
    package, method_map = PACKAGES[name]
    used = {message for _file, _line, message, _comments, _context in extract_from_dir(str(package), method_map)}
    translated = {message.id: message.string for message in _po(package) if message.id}
    assert used and sorted(used - translated.keys()) == []
    assert sorted(message for message in used if not translated[message]) == []


@pytest.mark.parametrize("name", PACKAGES)
def test_the_shipped_mo_is_the_compiled_po(name):
    package, _ = PACKAGES[name]
    with open(package / "locale" / "ja" / "LC_MESSAGES" / "messages.mo", "rb") as file:
        shipped = {message.id: message.string for message in read_mo(io.BytesIO(file.read())) if message.id}
    assert shipped == {message.id: message.string for message in _po(package) if message.id}
