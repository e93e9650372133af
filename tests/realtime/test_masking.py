"""Masking is table-driven: what must disappear, and what must stay exactly as typed."""

import re

import pytest

from realtime.masking import CARD, CODE, HETU, IBAN, REPLACEMENT, mask

_HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"


def make_hetu(ddmmyy: str, sign: str, individual: str) -> str:
    return f"{ddmmyy}{sign}{individual}{_HETU_CHECK[int(ddmmyy + individual) % 31]}"


MASKED = [
    # identity codes, every century sign
    ("hetu on 131052-308T", HETU),
    ("131052-308T", HETU),
    (f"minun {make_hetu('010203', 'A', '123')} kiitos", HETU),
    (f"tunnus {make_hetu('150550', '+', '432')}", HETU),
    (f"{make_hetu('311299', 'Y', '021')} hei", HETU),
    (f"{make_hetu('010110', 'B', '456')}.", HETU),
    (f"{make_hetu('241160', 'U', '911')}", HETU),  # temporary identity number
    ("131052 - 308T", HETU),  # spaced out around the sign: still a code
    ("lowercase 131052-308t", HETU),
    ("typo in check: 131052-308X", HETU),  # plausible lookalike, masked anyway
    ("min personbeteckning är 131052-308T", HETU),
    # payment cards
    ("kortti 4111 1111 1111 1111", CARD),
    ("4111-1111-1111-1111", CARD),
    ("5555555555554444", CARD),
    ("amex 3782 822463 10005", CARD),
    ("visa 4012888888881881 exp 12/27", CARD),
    # IBANs
    ("tilini FI21 1234 5600 0007 85 ok", IBAN),
    ("FI2112345600000785", IBAN),
    ("konto SE45 5000 0000 0583 9825 7466", IBAN),
    # one-time codes near their words
    ("koodi on 123456", CODE),
    ("tunnusluku 4821", CODE),
    ("Tunnusluvun 0042 kysyttiin", CODE),
    ("vahvistuskoodi: 8342 1234", CODE),
    ("min engångskod är 552211", CODE),
    ("koden 9911 kom på sms", CODE),
    ("the code is 9911", CODE),
    ("PIN 1234", CODE),
    ("my OTP: 77123456", CODE),
    ("123 456 on vahvistuskoodi", CODE),
    ("sain tekstiviestikoodin 4455", CODE),
    # bare six digits in a customer message
    ("654321", CODE),
    ("se oli 654321 kai", CODE),
]

NOT_MASKED = [
    "soita 040 123 4567",
    "0401234567",
    "+358 40 1234567",
    "+358401234567",
    "09 123456",
    "(09) 123456",
    "00100 Helsinki",
    "postinumero 00100",
    "postkod 00100",
    "synnyin 12.03.1950",
    "1.1.2024 klo 14:30",
    "hinta 129,90 €",
    "100000 €",
    "maksoin 250000 euroa",
    "€ 123456",
    "vuonna 2023",
    "laskun numero 1234567",
    "4111 1111 1111 1112",  # fails Luhn
    "FI21 1234 5600 0007 86",  # fails the IBAN check
    "koodi ei toimi, soita 040 123 4567",
    "koodi vanheni 12.03.2024",
    "hetu 131352-308T",  # month 13: neither valid nor a plausible date
    "versio 1.2.3456",
    "",
    "hei, miten saan verokortin?",
    "123-456",
]


# Digits of a MASKED text that are not the secret and must stay as typed.
KEPT_DIGITS = {"visa 4012888888881881 exp 12/27": "1227"}


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


@pytest.mark.parametrize(("text", "kind"), MASKED)
def test_masks(text, kind):
    result = mask(text)
    assert kind in result.kinds, result
    assert REPLACEMENT in result.text
    assert result.masked
    # The secret itself is gone: no digit of it is left anywhere in the text,
    # and the words around it are kept as typed.
    assert _digits(result.text) == KEPT_DIGITS.get(text, ""), result.text
    for word in re.findall(r"[^\W\d]{3,}", text):
        assert word in result.text, (word, result.text)


@pytest.mark.parametrize("text", NOT_MASKED)
def test_leaves_ordinary_numbers(text):
    result = mask(text)
    assert result.text == text
    assert result.kinds == ()
    assert not result.masked


def test_masked_value_is_gone_and_rest_kept():
    result = mask("Hei! hetu 131052-308T ja kortti 4111 1111 1111 1111, kiitos.")
    assert "131052" not in result.text
    assert "4111" not in result.text
    assert result.text == f"Hei! hetu {REPLACEMENT} ja kortti {REPLACEMENT}, kiitos."
    assert result.kinds == (CARD, HETU)


def test_standalone_codes_only_when_asked():
    assert mask("654321", standalone_codes=False).text == "654321"
    assert mask("koodi 654321", standalone_codes=False).kinds == (CODE,)


def test_several_codes_in_one_message():
    result = mask("koodi 1234 ja toinen koodi 5678")
    assert result.text.count(REPLACEMENT) == 2
