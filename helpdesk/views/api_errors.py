"""Every API error is JSON with a stable code, never an HTML page or a bare 500."""

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig, ValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from helpdesk import metrics
from helpdesk.services.errors import ServiceError

log = logging.getLogger(__name__)


def exception_handler(exc, context):
    response = _exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict):
        metrics.error("api", str(response.data.get("error", "error")))
    return response


def _exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        return Response({"error": exc.code, "detail": exc.message}, status=exc.http_status)
    if isinstance(exc, ValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    if isinstance(exc, RequestDataTooBig):
        return Response({"error": "too_large", "detail": "The request body is too large."}, 413)
    if isinstance(exc, (RecursionError, UnicodeError)):
        # Input the edge (helpdesk/input_guard.py) did not catch: still the client's.
        return Response({"error": "invalid", "detail": "The input could not be read."}, 400)
    response = drf_exception_handler(exc, context)
    if response is None:
        log.exception("unhandled API error", exc_info=exc)
        return Response(
            {"error": "internal_error", "detail": "Something went wrong."},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    code = {
        400: "invalid",
        401: "not_authenticated",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        429: "rate_limited",
    }.get(response.status_code, "error")
    if isinstance(exc, (Http404, PermissionDenied)):
        code = "not_found" if isinstance(exc, Http404) else "forbidden"
    response.data = {"error": code, "detail": response.data}
    return response
