"""TwiML the caller hears: pure builders from plain values to XML text.

Nothing here reads the database or the request; webhooks.py gathers the values
and picks the builder. Every spoken text is translated in the caller's
language and said with a voice of that language (Finnish needs `fi-FI`, not
`fi`). The verbs and attributes used are the ones Twilio documents for
Programmable Voice; tests/realtime/telephony/test_twiml_vocabulary.py keeps an
allow-list of them.

The builders most webhooks end with (the greeting, the menus, the queue, the
wait loop, goodbye) keep what they built for the same arguments: their text
depends only on those and on the translation catalogs, and building it with
the SDK's ElementTree each time cost 0.05-0.13 ms of CPU, on the wait loop's
every turn of every waiting caller. The wait loop's estimate is rounded to
minutes before the cache sees it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from twilio.twiml.voice_response import Gather, VoiceResponse

# (language attribute, voice) per platform language.
VOICES = {
    "fi": ("fi-FI", "Polly.Suvi-Neural"),
    "sv": ("sv-SE", "Polly.Elin-Neural"),
    "en": ("en-GB", "Polly.Amy-Neural"),
}
LANGUAGE_DIGITS = {"1": "fi", "2": "sv", "3": "en"}
CALLBACK_DIGIT = "1"
# Entries per builder: a few languages times a few URLs and positions.
_KEPT = 512


@dataclass(frozen=True)
class MenuItem:
    digit: str
    label: str


def _say(node, text: str, language: str) -> None:
    lang, voice = VOICES.get(language, VOICES["fi"])
    node.say(text, language=lang, voice=voice)


def _gather(response: VoiceResponse, *, action: str, timeout: int) -> Gather:
    return response.gather(
        input="dtmf", num_digits=1, timeout=timeout, action=action, method="POST"
    )


@lru_cache(maxsize=_KEPT)
def language_menu(*, action: str, retry_url: str, timeout: int, repeat: bool) -> str:
    """The greeting: choose Finnish, Swedish or English, each said in its own language."""
    response = VoiceResponse()
    gather = _gather(response, action=action, timeout=timeout)
    for digit, language in LANGUAGE_DIGITS.items():
        with translation.override(language):
            if not repeat and language == "fi":
                _say(gather, _("Welcome to Digituki, digital support."), language)
            text = _("For service in English, press %(digit)s.") % {"digit": digit}
            _say(gather, text, language)
    response.redirect(retry_url, method="POST")
    return str(response)


def menu(
    *,
    language: str,
    intro: str,
    items: Sequence[MenuItem],
    action: str,
    retry_url: str,
    timeout: int,
    repeat: bool,
) -> str:
    """A numbered menu (`items` already translated); no choice goes to `retry_url`."""
    return _menu(
        language=language,
        intro=intro,
        items=tuple(items),
        action=action,
        retry_url=retry_url,
        timeout=timeout,
        repeat=repeat,
    )


@lru_cache(maxsize=_KEPT)
def _menu(
    *,
    language: str,
    intro: str,
    items: tuple[MenuItem, ...],
    action: str,
    retry_url: str,
    timeout: int,
    repeat: bool,
) -> str:
    response = VoiceResponse()
    gather = _gather(response, action=action, timeout=timeout)
    with translation.override(language):
        if repeat:
            _say(gather, _("Sorry, I did not get a choice."), language)
        _say(gather, intro, language)
        for item in items:
            _say(
                gather,
                _("For %(label)s, press %(digit)s.") % {"label": item.label, "digit": item.digit},
                language,
            )
    response.redirect(retry_url, method="POST")
    return str(response)


@lru_cache(maxsize=_KEPT)
def enqueue(
    *, language: str, queue: str, wait_url: str, action: str, text: str | None = None
) -> str:
    """Into the waiting queue; `wait_url` is what the caller hears meanwhile."""
    response = VoiceResponse()
    with translation.override(language):
        _say(
            response,
            text or _("Thank you. You are now in the queue for the next supporter."),
            language,
        )
    response.enqueue(queue, wait_url=wait_url, wait_url_method="POST", action=action, method="POST")
    return str(response)


def _wait_phrase(position: int | None, minutes: int | None) -> str:
    parts = []
    if position:
        parts.append(_("You are number %(position)d in the queue.") % {"position": position})
    if minutes is not None:
        parts.append(
            ngettext(
                "The estimated wait is about %(minutes)d minute.",
                "The estimated wait is about %(minutes)d minutes.",
                minutes,
            )
            % {"minutes": minutes}
        )
    return " ".join(parts)


def wait_loop(
    *,
    language: str,
    announce: bool,
    position: int | None,
    wait_s: int | None,
    key_action: str,
    pause_s: int,
    callback_offered: bool = True,
) -> str:
    """One round of the waiting music: position now and then, the callback key, a pause."""
    return _wait_loop(
        language=language,
        announce=announce,
        position=position,
        minutes=None if wait_s is None else max(1, round(wait_s / 60)),
        key_action=key_action,
        pause_s=pause_s,
        callback_offered=callback_offered,
    )


@lru_cache(maxsize=_KEPT)
def _wait_loop(
    *,
    language: str,
    announce: bool,
    position: int | None,
    minutes: int | None,
    key_action: str,
    pause_s: int,
    callback_offered: bool,
) -> str:
    response = VoiceResponse()
    with translation.override(language):
        if announce:
            phrase = _wait_phrase(position, minutes)
            if phrase:
                _say(response, phrase, language)
        if callback_offered:
            gather = _gather(response, action=key_action, timeout=pause_s)
            if announce:
                _say(
                    gather,
                    _(
                        "To be called back instead, keeping your place in the queue, "
                        "press %(digit)s."
                    )
                    % {"digit": CALLBACK_DIGIT},
                    language,
                )
        else:
            response.pause(length=pause_s)
    return str(response)


def leave_for_callback(*, language: str) -> str:
    """Said in the queue after the callback key: leave the queue, the place is kept."""
    response = VoiceResponse()
    with translation.override(language):
        _say(
            response,
            _("Thank you. We will call you back from this service's number. Goodbye."),
            language,
        )
    response.leave()
    return str(response)


def keep_waiting() -> str:
    """Nothing to say: the wait loop goes on."""
    return str(VoiceResponse())


@lru_cache(maxsize=_KEPT)
def goodbye(*, language: str, text: str | None = None) -> str:
    response = VoiceResponse()
    with translation.override(language):
        _say(response, text or _("Thank you for calling. Goodbye."), language)
    response.hangup()
    return str(response)


def _opening_phrase(opens_at: datetime | None, language: str) -> str:
    if opens_at is None:
        return _("Phone support is closed at the moment.")
    local = timezone.localtime(opens_at)
    return _("Phone support is closed now. It opens again on %(day)s at %(time)s.") % {
        "day": formats.date_format(local, "l j.n."),
        "time": formats.time_format(local, "H:i"),
    }


def closed(
    *,
    language: str,
    opens_at: datetime | None,
    kansalaisneuvonta: str,
    action: str,
    retry_url: str,
    timeout: int,
    repeat: bool,
) -> str:
    """Out of hours: when help opens next, the callback key, Kansalaisneuvonta's number."""
    response = VoiceResponse()
    with translation.override(language):
        gather = _gather(response, action=action, timeout=timeout)
        if not repeat:
            _say(gather, _opening_phrase(opens_at, language), language)
            if kansalaisneuvonta:
                _say(
                    gather,
                    _(
                        "You can also call Kansalaisneuvonta, the citizens' advice service, "
                        "at %(number)s."
                    )
                    % {"number": _spoken_number(kansalaisneuvonta)},
                    language,
                )
        _say(
            gather,
            _("To be called back when we open, press %(digit)s. To end the call, hang up.")
            % {"digit": CALLBACK_DIGIT},
            language,
        )
    response.redirect(retry_url, method="POST")
    return str(response)


def _spoken_number(number: str) -> str:
    """Digits apart, so that the voice reads them one by one."""
    return " ".join(ch for ch in number if ch.isdigit() or ch == "+")


def callback_registered(*, language: str) -> str:
    with translation.override(language):
        text = _(
            "Thank you. Your callback request is in the queue, and a supporter will call you "
            "back when help is open. Goodbye."
        )
    return goodbye(language=language, text=text)


def failed(*, language: str, kansalaisneuvonta: str) -> str:
    """Something went wrong on our side: say so and where else to call."""
    response = VoiceResponse()
    with translation.override(language):
        _say(response, _("Sorry, we cannot take your call right now."), language)
        if kansalaisneuvonta:
            _say(
                response,
                _(
                    "You can also call Kansalaisneuvonta, the citizens' advice service, "
                    "at %(number)s."
                )
                % {"number": _spoken_number(kansalaisneuvonta)},
                language,
            )
    response.hangup()
    return str(response)


def connect(
    *,
    language: str,
    client_identity: str = "",
    number: str = "",
    caller_id: str,
    action: str,
    timeout: int = 25,
    greeting: str = "",
) -> str:
    """Bridge the caller to the supporter's softphone (`<Client>`) or own phone (`<Number>`).

    `caller_id` is the platform's number: the supporter's side never sees the
    caller's own number.
    """
    response = VoiceResponse()
    with translation.override(language):
        _say(response, greeting or _("Connecting you to a supporter now."), language)
    dial = response.dial(caller_id=caller_id, action=action, method="POST", timeout=timeout)
    if client_identity:
        dial.client(client_identity)
    else:
        dial.number(number)
    return str(response)


def back_to_queue(*, language: str, queue: str, wait_url: str, action: str) -> str:
    """The supporter's side did not answer: the caller waits again in the same place."""
    response = VoiceResponse()
    with translation.override(language):
        _say(response, _("The supporter could not be reached. Please hold on."), language)
    response.enqueue(queue, wait_url=wait_url, wait_url_method="POST", action=action, method="POST")
    return str(response)


def not_configured() -> str:
    """Said when the phone channel is not set up here (the webhook also answers 503)."""
    response = VoiceResponse()
    with translation.override("fi"):
        _say(response, _("Phone support is not in use."), "fi")
    response.hangup()
    return str(response)
