"""The TwiML builders keep what they built: the same text as building it anew, per language."""

from __future__ import annotations

import pytest
from django.utils import translation

from realtime.telephony import twiml

URL = "https://tuki.example.fi/telephony/voice/"


def _built_anew(builder, **kwargs) -> str:
    return builder.__wrapped__(**kwargs)


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
def test_kept_twiml_is_what_building_it_gives(language):
    cases = [
        (twiml.goodbye, {"language": language}),
        (twiml.enqueue, {"language": language, "queue": "q", "wait_url": URL, "action": URL}),
        (twiml.language_menu, {"action": URL, "retry_url": URL, "timeout": 6, "repeat": False}),
    ]
    for builder, kwargs in cases:
        # Whatever language is active around the call: the builder's own counts.
        with translation.override("en" if language != "en" else "fi"):
            kept = builder(**kwargs)
        assert kept == _built_anew(builder, **kwargs)
        assert builder(**kwargs) is kept  # the second time from the cache


def test_languages_are_kept_apart():
    assert twiml.goodbye(language="fi") != twiml.goodbye(language="sv")
    assert "fi-FI" in twiml.goodbye(language="fi") and "sv-SE" in twiml.goodbye(language="sv")


@pytest.mark.parametrize("wait_s", [None, 20, 89, 91, 600])
def test_wait_loop_rounds_the_estimate_before_keeping_it(wait_s):
    kwargs = {
        "language": "sv",
        "announce": True,
        "position": 3,
        "key_action": URL + "wait-key",
        "pause_s": 15,
        "callback_offered": True,
    }
    minutes = None if wait_s is None else max(1, round(wait_s / 60))
    kept = twiml.wait_loop(wait_s=wait_s, **kwargs)
    assert kept == twiml._wait_loop.__wrapped__(minutes=minutes, **kwargs)
    with translation.override("sv"):
        if minutes is not None:
            assert f" {minutes} " in kept


def test_menu_items_may_be_a_list():
    items = [twiml.MenuItem("1", "Laitteet"), twiml.MenuItem("2", "Verkkopankki")]
    kwargs = {
        "language": "fi",
        "intro": "Mitä?",
        "action": URL,
        "retry_url": URL,
        "timeout": 6,
        "repeat": True,
    }
    kept = twiml.menu(items=items, **kwargs)
    assert kept == twiml._menu.__wrapped__(items=tuple(items), **kwargs)
    assert "Verkkopankki" in kept
