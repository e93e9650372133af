"""POST /api/contacts/ on its own small thread pool, so a surge is created in parallel.

Django runs a synchronous view under ASGI in the worker's one thread-sensitive
thread: every sync request of the worker waits for the one before it, so in a
surge of "start chat" presses the requests queue behind each other at a few
milliseconds of database round trips apiece. Creating a contact needs nothing
of that thread (no session, no cookies, its own short transaction), so it
runs in one of ``CONTACT_INTAKE_THREADS`` threads, each keeping its own
database connection. ``0`` runs it the usual way (tests whose data lives in
the test's own transaction use that).

Two ways in share the pool: helpdesk/intake_asgi.py (the short ASGI path,
which runs the whole synchronous middleware chain and `create_view` there)
and `contact_create`, the async view the URL names, for requests that reach
Django's full handler (the test client, a server without the short path).
Both run the same DRF view (`api.ContactCreateView`, unchanged: its parsing,
throttling, validation and errors).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings

from helpdesk.db import keep_usable_connection
from helpdesk.views import api

__all__ = ["contact_create", "create_view", "run"]

create_view = api.ContactCreateView.as_view()
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


def _in_thread(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    finally:
        keep_usable_connection()


async def run(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` in an intake thread, whose database connection stays open."""
    size = threads()
    if size == 0:
        return await sync_to_async(_in_thread, thread_sensitive=True)(fn, *args, **kwargs)
    in_pool = sync_to_async(_in_thread, thread_sensitive=False, executor=_executor(size))
    return await in_pool(fn, *args, **kwargs)


def _create(request, *args, **kwargs):
    response = create_view(request, *args, **kwargs)
    if hasattr(response, "render"):
        response.render()  # in this thread, not on the event loop
    return response


async def contact_create(request, *args, **kwargs):
    return await run(_create, request, *args, **kwargs)


# What the URL resolver, CSRF and the schema generator read off a DRF view.
contact_create.cls = create_view.cls
contact_create.initkwargs = create_view.initkwargs
contact_create.csrf_exempt = True
