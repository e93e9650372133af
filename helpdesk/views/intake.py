"""POST /api/contacts/ on its own small thread pool, so a surge is created in parallel.

Django runs a synchronous view under ASGI in the worker's one thread-sensitive
thread: every sync request of the worker waits for the one before it, so in a
surge of "start chat" presses the requests queue behind each other at a few
milliseconds of database round trips apiece. Creating a contact needs nothing
of that thread (no session, no cookies, its own short transaction), so this
async view runs the same DRF view (`api.ContactCreateView`, unchanged: its
parsing, throttling, validation and errors) in one of ``CONTACT_INTAKE_THREADS``
threads, each keeping its own database connection. ``0`` runs it the usual
way (tests whose data lives in the test's own transaction use that).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings

from helpdesk.db import keep_usable_connection
from helpdesk.views import api

__all__ = ["contact_create"]

_view = api.ContactCreateView.as_view()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def threads() -> int:
    return max(0, int(getattr(settings, "CONTACT_INTAKE_THREADS", 4)))


def _executor(size: int) -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers != size:
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="contact-intake")
        return _pool


def _create(request, *args, **kwargs):
    try:
        response = _view(request, *args, **kwargs)
        if hasattr(response, "render"):
            response.render()  # in this thread, not on the event loop
        return response
    finally:
        keep_usable_connection()


async def contact_create(request, *args, **kwargs):
    size = threads()
    if size == 0:
        return await sync_to_async(_create, thread_sensitive=True)(request, *args, **kwargs)
    run = sync_to_async(_create, thread_sensitive=False, executor=_executor(size))
    return await run(request, *args, **kwargs)


# What the URL resolver, CSRF and the schema generator read off a DRF view.
contact_create.cls = _view.cls
contact_create.initkwargs = _view.initkwargs
contact_create.csrf_exempt = True
