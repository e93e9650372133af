"""The console's side of a warm transfer: ask, accept, decline, hand over, cancel.

JSON views for signed-in supporters (session and CSRF), like views.py. They
answer with the transfer's id and state only: never a number.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from helpdesk.services.errors import NotFound, ServiceError
from realtime.telephony import warm
from realtime.telephony.views import _json_error, _supporter, json_body, require_configured


def _answer(transfer) -> JsonResponse:
    return JsonResponse({"transfer": transfer.pk, "state": str(transfer.state)})


@require_POST
def start(request: HttpRequest, public_id: str) -> JsonResponse:
    """{"to_supporter": id} or {"to_provider": id}, and an optional "note"."""
    supporter, denied = _supporter(request)
    if denied:
        return denied
    try:
        require_configured()
        body = json_body(request)
        transfer = warm.start(
            supporter=supporter,
            public_id=public_id,
            to_supporter=body.get("to_supporter"),
            to_provider=body.get("to_provider"),
            note=body.get("note") or "",
        )
    except ServiceError as exc:
        return _json_error(exc)
    return _answer(transfer)


@require_POST
def act(request: HttpRequest, pk: int, action: str) -> JsonResponse:
    """accept ({"via": "browser"} or {"via": "phone", "number": ...}), decline, complete, cancel."""
    supporter, denied = _supporter(request)
    if denied:
        return denied
    try:
        require_configured()
        body = json_body(request)
        if action == "accept":
            transfer = warm.accept(
                supporter=supporter,
                transfer_id=pk,
                via=body.get("via"),
                number=body.get("number") or "",
            )
        elif action == "decline":
            transfer = warm.decline(supporter=supporter, transfer_id=pk)
        elif action == "complete":
            transfer = warm.complete(supporter=supporter, transfer_id=pk)
        elif action == "cancel":
            transfer = warm.cancel(supporter=supporter, transfer_id=pk)
        else:
            raise NotFound(_("Unknown action."))
    except ServiceError as exc:
        return _json_error(exc)
    return _answer(transfer)


@require_GET
def open_transfers(request: HttpRequest) -> JsonResponse:
    """The open warm transfers this supporter's console shows (read after a reload)."""
    supporter, denied = _supporter(request)
    if denied:
        return denied
    return JsonResponse({"transfers": warm.open_for(supporter)})
