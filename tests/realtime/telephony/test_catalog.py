"""Every text of the phone channel has its Finnish and Swedish translation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "realtime" / "telephony"
SOURCES = [*sorted(PACKAGE.glob("*.py")), ROOT / "routing" / "phone.py"]
KEYWORDS = {"_": None, "gettext": None, "gettext_lazy": None, "ngettext": (1, 2)}


def _msgids() -> set[str]:
    ids = set()
    for path in SOURCES:
        for _line, msg, _comments, _ctx in extract_from_file(
            "python", str(path), keywords=KEYWORDS
        ):
            ids.add(msg[0] if isinstance(msg, tuple) else msg)
    template = (PACKAGE / "templates" / "telephony" / "_softphone_strings.html").read_text()
    ids.update(re.findall(r"translate '([^']+)'", template))
    return ids


@pytest.mark.parametrize("language", ["fi", "sv"])
def test_every_phone_text_is_translated(language):
    path = PACKAGE / "locale" / language / "LC_MESSAGES" / "django.po"
    with path.open("rb") as handle:
        catalog = read_po(handle)
    missing = []
    for msgid in sorted(_msgids()):
        message = catalog.get(msgid)
        strings = message.string if message else ""
        if not strings or (isinstance(strings, tuple) and not all(strings)):
            missing.append(msgid)
    assert not missing
