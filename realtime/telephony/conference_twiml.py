"""TwiML of a warm transfer: every leg meets in one `<Dial><Conference>`.

The caller's leg is the only one that ends the conference when it leaves
(`endConferenceOnExit`): supporters come and go (the first one leaves after
handing over) while the caller stays. The supporters' legs are calls the
platform places, answered by a softphone or a supporter's own phone, so they
hear nothing in the caller's language but a short notice in the console's.
Pure builders, like twiml.py.
"""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext as _
from twilio.twiml.voice_response import VoiceResponse

from realtime.telephony.twiml import _say


def _join(response: VoiceResponse, conference: str, *, label: str, ends_it: bool) -> None:
    dial = response.dial()
    dial.conference(
        conference,
        beep="false",
        start_conference_on_enter="true",
        end_conference_on_exit="true" if ends_it else "false",
        participant_label=label,
    )


def caller_joins(*, language: str, conference: str) -> str:
    """The caller moves from the one-to-one bridge into the conference."""
    response = VoiceResponse()
    with translation.override(language):
        _say(
            response,
            _("Please hold on. I am asking another supporter to join this call."),
            language,
        )
    _join(response, conference, label="caller", ends_it=True)
    return str(response)


def supporter_joins(*, language: str, conference: str, label: str, target: bool) -> str:
    """A supporter's leg (the first supporter dialled back, or the target) joins."""
    response = VoiceResponse()
    with translation.override(language):
        text = (
            _("A warm transfer: you are joining the call.")
            if target
            else _("You are back on the call. The other supporter is being called.")
        )
        _say(response, text, language)
    _join(response, conference, label=label, ends_it=False)
    return str(response)


def leg_not_needed(*, language: str) -> str:
    """A supporter's leg answered after the transfer was called off."""
    response = VoiceResponse()
    with translation.override(language):
        _say(response, _("The transfer was cancelled. Thank you."), language)
    response.hangup()
    return str(response)
