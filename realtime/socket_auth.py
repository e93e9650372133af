"""Who opens a socket: channels' session and user middleware, minus its one shared thread.

channels resolves `scope["user"]` through `database_sync_to_async`, which
runs every socket's session read on the process's single thread-sensitive
thread. When a worker's sockets all come back at once, each customer (who has
no session at all) and each console waits in that one line. Here a socket
without a session key is anonymous at once, with no thread and no query, and
the user of a socket with one (`SocketUser`) is read when first used: the
console reads it in the same turn of its pool as the rest of its opening
(realtime/consumers/supporter.py), one hand-over to a thread instead of two.
Nothing touches `scope["user"]` on the event loop: that would read the
database there, which Django refuses.

What is decided is channels' own `get_user`, with the same checks: the
session row must not have expired, the backend that signed the user in must
still be configured, the user must exist and be active (ModelBackend's
`user_can_authenticate`), and the session's auth hash must match the user's
(a password change signs the old sessions out, and their row is flushed).
Only the two reads are cheaper: the session row and the user row come from
SQL built once per process (helpdesk/compiled_reads.py), not from a queryset
compiled for every socket. Sessions of another engine, and users found by a
backend of another kind, are read as channels reads them.
"""

from __future__ import annotations

import functools

from channels.auth import AuthMiddleware, _get_user_session_key
from channels.sessions import CookieMiddleware, InstanceSessionWrapper, SessionMiddleware
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, load_backend
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.functional import LazyObject, empty

from helpdesk.compiled_reads import CompiledInstances, CompiledRead

__all__ = [
    "SocketAuthMiddleware",
    "SocketSessionStore",
    "SocketUser",
    "socket_auth_stack",
    "user_of",
]


@functools.cache
def _session_row() -> CompiledRead:
    from django.contrib.sessions.models import Session

    return CompiledRead(
        lambda key: Session.objects.filter(session_key=key).values_list(
            "session_data", "expire_date"
        ),
        key=str,
    )


@functools.cache
def _user_rows() -> CompiledInstances:
    from django.contrib.auth import get_user_model

    model = get_user_model()
    # ModelBackend.get_user's own read: the default manager, by primary key.
    return CompiledInstances(model, lambda pk: model._default_manager.filter(pk=pk))


class SocketSessionStore(DatabaseSessionStore):
    """Django's database session store; its row is read with SQL compiled once."""

    # The data is signed with a salt named after the store's class: this one
    # reads what Django's own wrote.
    key_salt = "django.contrib.sessions." + DatabaseSessionStore.__qualname__

    def _get_session_from_db(self):
        for data, expires in _session_row()(self.session_key):
            # As the store's own read (`expire_date__gt=now`): an expired row is no session.
            if expires > timezone.now():
                return self.model(
                    session_key=self.session_key, session_data=data, expire_date=expires
                )
        self._session_key = None
        return None


class SocketSessionMiddleware(SessionMiddleware):
    """channels' SessionMiddleware, with SocketSessionStore for the database engine."""

    async def __call__(self, scope, receive, send):
        wrapper = InstanceSessionWrapper(scope, send)
        if wrapper.session_store is DatabaseSessionStore:
            wrapper.session_store = SocketSessionStore
        await wrapper.resolve_session()
        return await self.inner(wrapper.scope, receive, wrapper.send)


def _backend_user(backend, user_id):
    """`backend.get_user(user_id)`, ModelBackend's read done by a compiled read."""
    if type(backend).get_user is not ModelBackend.get_user or type(user_id) is not int:
        return backend.get_user(user_id)
    found = _user_rows()(user_id)
    if not found:
        return None
    return found[0] if backend.user_can_authenticate(found[0]) else None


def _read_user(scope):
    """channels' `get_user(scope)`, run here in one of our threads (see the module doc)."""
    session = scope["session"]
    try:
        user_id = _get_user_session_key(session)
        backend_path = session[BACKEND_SESSION_KEY]
    except KeyError:
        return AnonymousUser()
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return AnonymousUser()
    user = _backend_user(load_backend(backend_path), user_id)
    if hasattr(user, "get_session_auth_hash"):
        session_hash = session.get(HASH_SESSION_KEY)
        if not (session_hash and constant_time_compare(session_hash, user.get_session_auth_hash())):
            session.flush()
            user = None
    return user or AnonymousUser()


class SocketUser(LazyObject):
    """`scope["user"]` of a socket with a session: read by its first use, in that thread."""

    def __init__(self, scope):
        super().__init__()
        self.__dict__["_scope"] = scope

    def _setup(self):
        self._wrapped = _read_user(self._scope)


def user_of(user):
    """The user behind `scope["user"]`, read now if it has not been (call it in a thread)."""
    if isinstance(user, LazyObject):
        if user._wrapped is empty:
            user._setup()
        return user._wrapped
    return user


class SocketAuthMiddleware(AuthMiddleware):
    async def resolve_scope(self, scope):
        session = scope.get("session")
        if session is None or not session.session_key:
            scope["user"]._wrapped = AnonymousUser()
            return
        scope["user"] = SocketUser(scope)


def socket_auth_stack(inner):
    """channels' AuthMiddlewareStack with the session and user resolved as above."""
    return CookieMiddleware(SocketSessionMiddleware(SocketAuthMiddleware(inner)))
