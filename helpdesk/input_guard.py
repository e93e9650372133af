"""The HTTP edge: input no view can store or encode is refused before any view runs.

One middleware for the API, the pages, the forms and the webhooks alike:

- a query string or form field with NUL or a lone surrogate -> 400;
- a JSON body that is not JSON, nests deeper than MAX_JSON_DEPTH (Python's
  parser would raise RecursionError), holds NUL, a lone surrogate or a
  non-finite number anywhere -> 400;
- a body over DATA_UPLOAD_MAX_MEMORY_SIZE (Django's RequestDataTooBig), or
  too many fields (TooManyFieldsSent) -> 413 / 400.

API paths (/api/, /kb/api/) answer in the API's error shape
({"error": code, "detail": ...}, helpdesk/views/api_errors.py); other paths
with a short plain-text 400/413. The checks are cheap: bodies are small
(the size limit comes first) and the JSON is decoded once more only when it
is JSON.
"""

from __future__ import annotations

import json
import logging

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse

from helpdesk.untrusted import json_problem, text_problem

log = logging.getLogger(__name__)

API_PREFIXES = ("/api/", "/kb/api/")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def checks_own_body(view):
    """Mark a view that reads and checks its own body (with its own messages).

    Its query string is still checked here; its body is left to it. Such a
    view must refuse NUL, lone surrogates and deep nesting itself (the device
    check does: realtime/video/device_check.py).
    """
    view.checks_own_body = True
    return view


class InputGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        # Here rather than in __call__: a URL no view answers reads no input.
        own_body = getattr(view_func, "checks_own_body", False) or getattr(
            getattr(view_func, "cls", None), "checks_own_body", False
        )
        return self.check(request, body=not own_body)

    def check(self, request: HttpRequest, *, body: bool = True) -> HttpResponse | None:
        try:
            problem = self._query_problem(request)
            if problem is None and body and request.method in _BODY_METHODS:
                problem = self._body_problem(request)
        except RequestDataTooBig:
            return self._refuse(request, 413, "too_large", "The request body is too large.")
        except TooManyFieldsSent:
            return self._refuse(request, 400, "invalid", "Too many fields.")
        except SuspiciousOperation:
            return self._refuse(request, 400, "invalid", "The request could not be read.")
        if problem is not None:
            log.info("refused input on %s %s: %s", request.method, request.path, problem)
            return self._refuse(request, 400, "invalid", f"Invalid input: {problem}.")
        return None

    @staticmethod
    def _query_problem(request: HttpRequest) -> str | None:
        for key, values in request.GET.lists():
            for value in (key, *values):
                problem = text_problem(value)
                if problem:
                    return f"a query parameter {problem}"
        return None

    @staticmethod
    def _body_problem(request: HttpRequest) -> str | None:
        content_type = (request.content_type or "").lower()
        if content_type == "application/json" or content_type.endswith("+json"):
            raw = request.body  # RequestDataTooBig past the limit
            if not raw.strip():
                return None
            try:
                data = json.loads(raw)
            except RecursionError:
                return "the JSON nests too deep"
            except (ValueError, UnicodeDecodeError):
                return None  # the view's own parser says what is wrong with it
            return json_problem(data)
        forms = ("application/x-www-form-urlencoded", "multipart/form-data")
        if content_type in forms and not request.path.startswith(API_PREFIXES):
            # (The API reads its own body and takes JSON only: reading the
            # form here would leave its parser nothing.)
            for key, values in request.POST.lists():
                for value in (key, *values):
                    problem = text_problem(value)
                    if problem:
                        return f"a form field {problem}"
        elif request.META.get("CONTENT_LENGTH"):
            request.body  # noqa: B018 -- enforce DATA_UPLOAD_MAX_MEMORY_SIZE for any body
        return None

    @staticmethod
    def _refuse(request: HttpRequest, status: int, code: str, detail: str) -> HttpResponse:
        if request.path.startswith(API_PREFIXES):
            return JsonResponse({"error": code, "detail": detail}, status=status)
        return HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")
