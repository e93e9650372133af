"""The views Twilio calls during a phone call (all POST, all signed).

Each parses Twilio's form fields, calls one service in services.py and answers
with TwiML from twiml.py. A bad signature never gets here (signature.py); bad
fields get a 400 with a short reason and change nothing.

    incoming           voice webhook of the number: greeting and language menu
    menu/<stage>       the answer to a menu (language, region, topic)
    closed             out of hours: callback key
    wait               <Enqueue waitUrl>: position, estimate, callback key
    wait-key           a key pressed while waiting
    queue-done         <Enqueue action>: how the caller left the queue
    bridge             where a queued caller is redirected: <Dial> the supporter
    hold               where a held caller is redirected: the wait music again
    callback-answer/N  TwiML of a callback the platform dialled
    dial-done          <Dial action>: talk time, or back to the queue
    status             status callback of the call
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext as _

from helpdesk import db_async
from helpdesk.services.errors import ServiceError
from realtime.telephony import runner, services, twiml
from realtime.telephony.models import Stage
from realtime.telephony.signature import twilio_webhook

log = logging.getLogger(__name__)

PREFIX = "/telephony/voice"


def _url(path: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}{PREFIX}/{path}"


def _xml(body: str) -> HttpResponse:
    return HttpResponse(body, content_type="text/xml; charset=utf-8")


def _error(exc: ServiceError) -> HttpResponse:
    status = exc.http_status if exc.http_status < 500 else 400
    return HttpResponse(f"{exc.message}\n", status=status, content_type="text/plain; charset=utf-8")


def _field(request: HttpRequest, name: str) -> str:
    value = request.POST.get(name, "")
    return value if isinstance(value, str) else ""


def _handles_errors(view):
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except ServiceError as exc:
            log.info("voice webhook %s refused: %s", request.path, exc.code)
            return _error(exc)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _handles_errors_on_loop(view):
    async def wrapped(request, *args, **kwargs):
        try:
            return await view(request, *args, **kwargs)
        except ServiceError as exc:
            log.info("voice webhook %s refused: %s", request.path, exc.code)
            return _error(exc)

    return wrapped


def webhook(view=None, *, on_loop=None):
    """A Twilio webhook; `on_loop`: its async twin for the event loop (runner.on_loop)."""

    def decorate(view):
        return twilio_webhook(
            _handles_errors(view),
            on_loop=_handles_errors_on_loop(on_loop) if on_loop is not None else None,
        )

    return decorate(view) if view is not None else decorate


def _prompt(outcome: services.Outcome) -> str:
    """What the caller hears at the call's current stage."""
    call = outcome.call
    timeout = settings.PHONE_GATHER_TIMEOUT_S
    if call.stage == Stage.LANGUAGE:
        return twiml.language_menu(
            action=_url("menu/language"),
            retry_url=_url("menu/language"),
            timeout=timeout,
            repeat=outcome.repeat,
        )
    if call.stage in (Stage.REGION, Stage.TOPIC):
        with translation.override(call.language):
            if call.stage == Stage.REGION:
                intro = _("Which region are you calling from?")
                names = [r.localized_name(call.language) for r in services.region_menu()]
            else:
                intro = _("What do you need help with?")
                names = [t.localized_name(call.language) for t in services.topic_menu()]
        items = [twiml.MenuItem(str(i), name) for i, name in enumerate(names, start=1)]
        return twiml.menu(
            language=call.language,
            intro=intro,
            items=items,
            action=_url(f"menu/{call.stage}"),
            retry_url=_url(f"menu/{call.stage}"),
            timeout=timeout,
            repeat=outcome.repeat,
        )
    if call.stage == Stage.CLOSED:
        return twiml.closed(
            language=call.language,
            opens_at=outcome.opens_at,
            kansalaisneuvonta=settings.KANSALAISNEUVONTA_PHONE,
            action=_url("closed"),
            retry_url=_url("closed"),
            timeout=timeout,
            repeat=outcome.repeat,
        )
    if call.stage == Stage.CALLBACK:
        return twiml.callback_registered(language=call.language)
    if call.stage in (Stage.QUEUED, Stage.BRIDGING) and call.contact_id:
        return _enqueue(call.language)
    return twiml.goodbye(language=call.language)


def _enqueue(language: str) -> str:
    return twiml.enqueue(
        language=language,
        queue=settings.TWILIO_QUEUE_NAME,
        wait_url=_url("wait"),
        action=_url("queue-done"),
    )


@webhook
def incoming(request: HttpRequest) -> HttpResponse:
    call = services.start_call(
        call_sid=_field(request, "CallSid"), from_number=_field(request, "From")
    )
    return _xml(_prompt(services.Outcome(call)))


@webhook
def menu(request: HttpRequest, stage: str) -> HttpResponse:
    outcome = services.answer_menu(
        call_sid=_field(request, "CallSid"), stage=stage, digits=_field(request, "Digits")
    )
    return _xml(_prompt(outcome))


@webhook
def closed(request: HttpRequest) -> HttpResponse:
    outcome = services.answer_closed(
        call_sid=_field(request, "CallSid"),
        digits=_field(request, "Digits"),
        from_number=_field(request, "From"),
    )
    return _xml(_prompt(outcome))


@webhook
def hold(request: HttpRequest) -> HttpResponse:
    """Where a held caller is redirected: the wait music until the supporter reconnects."""
    call = services.current_call(call_sid=_field(request, "CallSid"))
    with translation.override(call.language):
        text = _("Please hold on. Your supporter will be back with you shortly.")
    return _xml(
        twiml.enqueue(
            language=call.language,
            queue=settings.TWILIO_QUEUE_NAME,
            wait_url=_url("wait"),
            action=_url("queue-done"),
            text=text,
        )
    )


async def _wait_on_loop(request: HttpRequest) -> HttpResponse:
    call_sid, sql, params = services.wait_statement(call_sid=_field(request, "CallSid"))
    return _wait_answer(services.wait_result(call_sid, await db_async.fetchone(sql, params)))


@webhook(on_loop=_wait_on_loop)
def wait(request: HttpRequest) -> HttpResponse:
    return _wait_answer(services.wait_round(call_sid=_field(request, "CallSid")))


def _wait_answer(turn: services.WaitRound) -> HttpResponse:
    if turn.over:
        return _xml(twiml.goodbye(language=turn.call.language))
    return _xml(
        twiml.wait_loop(
            language=turn.call.language,
            announce=turn.announce,
            position=turn.position,
            wait_s=turn.wait_s,
            key_action=_url("wait-key"),
            pause_s=settings.PHONE_WAIT_PAUSE_S,
            callback_offered=turn.call.stage == Stage.QUEUED and turn.queued,
        )
    )


@webhook
def wait_key(request: HttpRequest) -> HttpResponse:
    if _field(request, "Digits").strip() != twiml.CALLBACK_DIGIT:
        return _xml(twiml.keep_waiting())
    call = services.callback_in_queue(
        call_sid=_field(request, "CallSid"), from_number=_field(request, "From")
    )
    return _xml(twiml.leave_for_callback(language=call.language))


@webhook
def queue_done(request: HttpRequest) -> HttpResponse:
    call = services.queue_result(
        call_sid=_field(request, "CallSid"),
        result=_field(request, "QueueResult"),
        queue_time=_field(request, "QueueTime"),
    )
    if _field(request, "QueueResult") in ("error", "system-error", "queue-full"):
        return _xml(
            twiml.failed(language=call.language, kansalaisneuvonta=settings.KANSALAISNEUVONTA_PHONE)
        )
    return _xml(twiml.goodbye(language=call.language))


def _dial(bridge: services.Bridge, *, greeting: str = "") -> str:
    return twiml.connect(
        language=bridge.call.language,
        client_identity=bridge.client_identity,
        number=bridge.number,
        caller_id=settings.TWILIO_PHONE_NUMBER,
        action=_url("dial-done"),
        greeting=greeting,
    )


@webhook
def bridge(request: HttpRequest) -> HttpResponse:
    call, result = services.bridge(call_sid=_field(request, "CallSid"))
    if result is None:
        return _xml(_enqueue(call.language))
    return _xml(_dial(result))


@webhook
def callback_answer(request: HttpRequest, pk: int) -> HttpResponse:
    result = services.callback_answered(pk=pk, call_sid=_field(request, "CallSid"))
    if result is None:
        return _xml(twiml.goodbye(language="fi"))
    with translation.override(result.call.language):
        greeting = _("Hello, Digituki digital support is calling you back. Please hold on.")
    return _xml(_dial(result, greeting=greeting))


@webhook
def dial_done(request: HttpRequest) -> HttpResponse:
    call = services.dial_result(
        call_sid=_field(request, "CallSid"),
        status=_field(request, "DialCallStatus"),
        duration=_field(request, "DialCallDuration"),
    )
    if call.stage == Stage.QUEUED:
        if _field(request, "DialCallStatus") == "completed":
            return _xml(_enqueue(call.language))
        return _xml(
            twiml.back_to_queue(
                language=call.language,
                queue=settings.TWILIO_QUEUE_NAME,
                wait_url=_url("wait"),
                action=_url("queue-done"),
            )
        )
    return _xml(twiml.goodbye(language=call.language))


async def _status_on_loop(request: HttpRequest) -> HttpResponse:
    status = _field(request, "CallStatus")
    call_sid, sql, params = services.status_statement(
        call_sid=_field(request, "CallSid"), status=status, duration=_field(request, "CallDuration")
    )
    (still_open,) = await db_async.fetchone(sql, params)
    if params["final"] and still_open:
        # Closing the call's contact is a transaction of several statements: on the pool.
        await runner.run(services.close_ended_call, call_sid=call_sid, status=status)
    return HttpResponse(status=204)


@webhook(on_loop=_status_on_loop)
def status(request: HttpRequest) -> HttpResponse:
    services.record_status(
        call_sid=_field(request, "CallSid"),
        status=_field(request, "CallStatus"),
        duration=_field(request, "CallDuration"),
    )
    return HttpResponse(status=204)
