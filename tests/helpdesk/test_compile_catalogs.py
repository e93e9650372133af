"""compile_catalogs: a catalog entry that lost its msgstr stops the build."""

from __future__ import annotations

import gettext

import pytest
from babel.messages.pofile import PoFileError

from helpdesk.management.commands.compile_catalogs import compile_catalog

HEADER = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'


def _po(tmp_path, body: str):
    path = tmp_path / "fi" / "LC_MESSAGES" / "django.po"
    path.parent.mkdir(parents=True)
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def test_a_good_catalog_compiles_and_translates(tmp_path):
    path = _po(tmp_path, 'msgid "Cancel"\nmsgstr "Peruuta"\n')
    compile_catalog(path)
    with open(path.with_suffix(".mo"), "rb") as handle:
        assert gettext.GNUTranslations(handle).gettext("Cancel") == "Peruuta"


def test_an_entry_without_msgstr_stops_the_build(tmp_path):
    # What a line-wise union merge of two branches' catalogs can leave behind.
    path = _po(tmp_path, 'msgid "Cancel"\n#: x.py\nmsgid "Send"\nmsgstr "Lähetä"\n')
    with pytest.raises(PoFileError):
        compile_catalog(path)
    assert not path.with_suffix(".mo").exists()
