"""The views Twilio calls during a warm transfer (all POST, all signed).

    transfer/N/caller        where the caller is redirected: into the conference
    transfer/N/host          the first supporter, dialled back into it
    transfer/N/target        the target supporter's leg: joins it
    transfer/N/leg/<role>    status callback of a supporter's leg
    transfer/N/over          where the caller goes when the serving supporter left

Thin, like webhooks.py: parse Twilio's fields, call warm.py, answer TwiML.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from helpdesk.services.errors import NotFound
from realtime.telephony import conference_twiml, services, twiml, warm
from realtime.telephony.models import Stage
from realtime.telephony.webhooks import _dial, _field, _url, _xml, webhook

ROLES = ("host", "target")


@webhook
def caller(request: HttpRequest, pk: int) -> HttpResponse:
    call_sid = _field(request, "CallSid")
    transfer, joins = warm.caller_conference(transfer_id=pk, call_sid=call_sid)
    language = transfer.call.language
    if not joins:
        call = transfer.call
        if call.stage == Stage.BRIDGED and call.bridge_to and call.ended_at is None:
            # Called off before the caller got here: back to the serving supporter.
            call, result = services.bridge(call_sid=call_sid)
            if result is not None:
                return _xml(_dial(result))
        return _xml(_next_for(call))
    return _xml(conference_twiml.caller_joins(language=language, conference=transfer.conference))


@webhook
def leg(request: HttpRequest, pk: int, role: str) -> HttpResponse:
    if role not in ROLES:
        raise NotFound(_("Unknown call."))
    transfer, joins = warm.leg_answered(
        transfer_id=pk, role=role, call_sid=_field(request, "CallSid")
    )
    language = settings.LANGUAGE_CODE[:2]
    if not joins:
        return _xml(conference_twiml.leg_not_needed(language=language))
    return _xml(
        conference_twiml.supporter_joins(
            language=language,
            conference=transfer.conference,
            label=role,
            target=role == "target",
        )
    )


@webhook
def leg_status(request: HttpRequest, pk: int, role: str) -> HttpResponse:
    if role not in ROLES:
        raise NotFound(_("Unknown call."))
    warm.leg_status(
        transfer_id=pk, call_sid=_field(request, "CallSid"), status=_field(request, "CallStatus")
    )
    return HttpResponse(status=204)


@webhook
def over(request: HttpRequest, pk: int) -> HttpResponse:
    call = warm.after_conference(transfer_id=pk, call_sid=_field(request, "CallSid"))
    return _xml(_next_for(call))


def _next_for(call) -> str:
    """Back to the queue (with the wait music) if the call waits again, else goodbye."""
    if call.stage == Stage.QUEUED and call.ended_at is None:
        return twiml.back_to_queue(
            language=call.language,
            queue=settings.TWILIO_QUEUE_NAME,
            wait_url=_url("wait"),
            action=_url("queue-done"),
        )
    return twiml.goodbye(language=call.language)
