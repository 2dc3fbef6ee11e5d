"""The console's Japanese catalog covers every message of its templates, and the shipped .mo is
the compiled .po (`make catalogs`)."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import enishi.graphql.console as console

PACKAGE = Path(console.__file__).parent
CATALOG = PACKAGE / "locale" / "ja" / "LC_MESSAGES"


def _po():
    with open(CATALOG / "messages.po", "rb") as file:
        return read_po(file)


def test_every_message_of_the_templates_has_a_japanese_translation():
    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    used = {message for _file, _line, message, _comments, _context in extract_from_dir(str(PACKAGE), method_map)}
    translated = {message.id: message.string for message in _po() if message.id}
    assert used and sorted(used - translated.keys()) == []
    assert sorted(message for message in used if not translated[message]) == []


def test_the_shipped_mo_is_the_compiled_po():
    with open(CATALOG / "messages.mo", "rb") as file:
        shipped = {message.id: message.string for message in read_mo(io.BytesIO(file.read())) if message.id}
    assert shipped == {message.id: message.string for message in _po() if message.id}
