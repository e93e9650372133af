"""Masking of sensitive numbers typed into a chat, before storage.

Customers who are new to e-services often paste exactly what they were told
never to share: a personal identity code (henkilötunnus), a payment card
number, a bank account or a one-time code from their bank. The text is masked
before the message is stored, so neither the database nor a supporter ever
holds it (docs/architecture.md section 5).

Each detector validates what it finds (python-stdnum) so that ordinary
numbers — phone numbers, postal codes, dates, prices — stay untouched. The one
deliberate exception: identity-code lookalikes with a plausible date are
masked even when their check character is wrong, because a mistyped code is
still a person's code.

Pure: no Django, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum import iban as std_iban
from stdnum import luhn
from stdnum.fi import hetu as std_hetu

REPLACEMENT = "[•••]"

HETU = "hetu"
CARD = "card"
IBAN = "iban"
CODE = "code"


@dataclass(frozen=True, slots=True)
class MaskResult:
    text: str
    kinds: tuple[str, ...]

    @property
    def masked(self) -> bool:
        return bool(self.kinds)


_NOT_WORD_BEFORE = r"(?<![0-9A-Za-zÅÄÖåäö])"
_NOT_WORD_AFTER = r"(?![0-9A-Za-zÅÄÖåäö])"

# DDMMYY, century sign (+ 1800s, - and U-Y 1900s, A-F 2000s), individual number, check.
_HETU_RE = re.compile(
    _NOT_WORD_BEFORE
    + r"(?P<dd>\d{2})(?P<mm>\d{2})\d{2}\s?[-+A-FU-Ya-fu-y]\s?\d{3}[0-9A-Ya-y]"
    + _NOT_WORD_AFTER
)

_IBAN_RE = re.compile(
    _NOT_WORD_BEFORE + r"[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){10,30}" + _NOT_WORD_AFTER
)

# Contiguous 13-19 digits, or the groupings printed on cards (4-4-4-x, Amex 4-6-5).
_CARD_RE = re.compile(
    r"(?<![\d])(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2}[ -]\d{1,7}|\d{4}[ -]\d{6}[ -]\d{5})(?![\d])"
)

# Words that announce a one-time code, PIN or password number (fi, sv, en),
# inflected forms included: koodi, koodin, koodia, tunnusluku, tunnusluvun...
_CODE_WORDS = (
    r"(?:vahvistus|turva|kerta|tunnistus|pin-?|sms-?|tekstiviesti|varmenne)?koodi\w*"
    r"|tunnuslu(?:ku|vu)\w*|pin|otp|salasana\w*"
    r"|(?:engångs|verifierings|bekräftelse|sms-?|pin-?|säkerhets)?kod(?:en|er|erna)?"
    r"|(?:verification|security|one-time|one time|sms|confirmation|pin)?\s?codes?|passcode"
)
_CODE_WORD_RE = re.compile(r"(?<![\w])(?:" + _CODE_WORDS + r")(?![\w])", re.IGNORECASE)
_CODE_NUMBER = r"(?<![\d,.:/])(?<!\d )\d(?:[ ]?\d){3,7}(?![\d]|[ ,.:/-]\d)"
_CODE_NUMBER_RE = re.compile(_CODE_NUMBER)
_CODE_WINDOW_AFTER = 40
_CODE_WINDOW_BEFORE = 24

_STANDALONE6_RE = re.compile(r"(?<![\d\w,.:/+-])\d{6}(?![\d\w]|[,.:/-]\d)")
_CURRENCY_AFTER_RE = re.compile(r"^\s?(?:€|e\b|eur|euro|kr|sek|\$|£)", re.IGNORECASE)
_CURRENCY_BEFORE_RE = re.compile(r"(?:€|eur|\$|£)\s?$", re.IGNORECASE)
_PHONE_PREFIX_RE = re.compile(r"(?:\+358|\(0\d{1,2}\)|\b0\d{1,2})[ -]?$")


def _plausible_date(dd: str, mm: str) -> bool:
    return 1 <= int(dd) <= 31 and 1 <= int(mm) <= 12


def _hetu_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for m in _HETU_RE.finditer(text):
        candidate = re.sub(r"\s", "", m.group(0)).upper()
        if std_hetu.is_valid(candidate, allow_temporary=True) or _plausible_date(
            m.group("dd"), m.group("mm")
        ):
            spans.append(m.span())
    return spans


def _iban_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for m in _IBAN_RE.finditer(text):
        # The pattern is greedy across spaces; try shorter prefixes on word
        # boundaries so that "FI21 1234 5600 0007 85 ok" still validates.
        chunk = m.group(0)
        cuts = [len(chunk)] + [i for i in range(len(chunk) - 1, 0, -1) if chunk[i] == " "]
        for cut in cuts:
            if std_iban.is_valid(chunk[:cut].replace(" ", "").upper()):
                spans.append((m.start(), m.start() + cut))
                break
    return spans


def _card_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for m in _CARD_RE.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 13 <= len(digits) <= 19 and luhn.is_valid(digits):
            spans.append(m.span())
    return spans


def _code_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for word in _CODE_WORD_RE.finditer(text):
        if word.group(0).lower().startswith("post"):
            continue
        after_start = word.end()
        after = text[after_start : after_start + _CODE_WINDOW_AFTER]
        for m in _CODE_NUMBER_RE.finditer(after):
            spans.append((after_start + m.start(), after_start + m.end()))
        before_start = max(0, word.start() - _CODE_WINDOW_BEFORE)
        before = text[before_start : word.start()]
        for m in _CODE_NUMBER_RE.finditer(before):
            spans.append((before_start + m.start(), before_start + m.end()))
    return spans


def _standalone_code_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for m in _STANDALONE6_RE.finditer(text):
        if _CURRENCY_AFTER_RE.match(text[m.end() :]) or _CURRENCY_BEFORE_RE.search(
            text[: m.start()]
        ):
            continue
        if _PHONE_PREFIX_RE.search(text[max(0, m.start() - 8) : m.start()]):
            continue
        spans.append(m.span())
    return spans


def _overlaps(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in taken)


def mask(text: str, *, standalone_codes: bool = True) -> MaskResult:
    """Mask identity codes, card numbers, IBANs and one-time codes in `text`.

    `standalone_codes` also masks a bare six-digit number (the usual shape of a
    bank's one-time code); it is meant for customer messages, where such a
    number is far more likely a code than anything else.
    """
    if not text or not any(ch.isdigit() for ch in text):
        return MaskResult(text, ())
    detectors = [(HETU, _hetu_spans), (IBAN, _iban_spans), (CARD, _card_spans), (CODE, _code_spans)]
    if standalone_codes:
        detectors.append((CODE, _standalone_code_spans))
    taken: list[tuple[int, int]] = []
    kinds: set[str] = set()
    for kind, detect in detectors:
        for span in detect(text):
            if not _overlaps(span, taken):
                taken.append(span)
                kinds.add(kind)
    if not taken:
        return MaskResult(text, ())
    out, pos = [], 0
    for start, end in sorted(taken):
        out.append(text[pos:start])
        out.append(REPLACEMENT)
        pos = end
    out.append(text[pos:])
    return MaskResult("".join(out), tuple(sorted(kinds)))
