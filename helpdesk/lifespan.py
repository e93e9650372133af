"""ASGI lifespan handling: start and stop per-process background work.

Channels' ProtocolTypeRouter does not speak the lifespan protocol, so this thin
wrapper answers it and runs the registered startup/shutdown hooks (the routing
ticker). Hooks are registered by dotted path in settings.LIFESPAN_HOOKS.
"""

import logging

from django.conf import settings
from django.utils.module_loading import import_string

log = logging.getLogger(__name__)


class LifespanMiddleware:
    def __init__(self, app):
        self.app = app
        self._hooks = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    for path in getattr(settings, "LIFESPAN_HOOKS", []):
                        hook = import_string(path)()
                        await hook.start()
                        self._hooks.append(hook)
                except Exception as exc:
                    log.exception("lifespan startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for hook in reversed(self._hooks):
                    try:
                        await hook.stop()
                    except Exception:
                        log.exception("lifespan shutdown hook failed")
                self._hooks.clear()
                await send({"type": "lifespan.shutdown.complete"})
                return
