"""Who opens a socket: channels' session and user middleware, minus its one shared thread.

channels resolves `scope["user"]` through `database_sync_to_async`, which
runs every socket's session read on the process's single thread-sensitive
thread. When a worker's sockets all come back at once, each customer (who has
no session at all) and each console waits in that one line. Here a socket
without a session key is anonymous at once, with no thread and no query, and
a console's session and user are read in the console pool
(realtime/consumers/base.py), beside the rest of its connect.

What is decided is channels' own `get_user`: same session keys, same hash
check that signs out a session whose password changed.
"""

from __future__ import annotations

from channels.auth import AuthMiddleware
from channels.auth import get_user as _channels_get_user
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.contrib.auth.models import AnonymousUser

__all__ = ["SocketAuthMiddleware", "socket_auth_stack"]


def _read_user(scope):
    # `get_user` is wrapped for a thread of channels' own; its plain function
    # runs here in one of ours, which looks after its database connection.
    return _channels_get_user.func(scope)


class SocketAuthMiddleware(AuthMiddleware):
    async def resolve_scope(self, scope):
        session = scope.get("session")
        if session is None or not session.session_key:
            scope["user"]._wrapped = AnonymousUser()
            return
        from realtime.consumers.base import console_db

        scope["user"]._wrapped = await console_db(_read_user, scope)


def socket_auth_stack(inner):
    """channels' AuthMiddlewareStack with the user resolved as above."""
    return CookieMiddleware(SessionMiddleware(SocketAuthMiddleware(inner)))
