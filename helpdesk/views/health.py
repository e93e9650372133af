"""GET /healthz: is the database answering, and the channel layer?"""

import asyncio
import logging
import uuid

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import JsonResponse

log = logging.getLogger(__name__)


def _check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {"ok": True, "vendor": connection.vendor}
    except Exception as exc:
        log.warning("health: database check failed: %s", exc)
        return {"ok": False, "vendor": connection.vendor, "error": type(exc).__name__}
    finally:
        connection.close_if_unusable_or_obsolete()


async def _check_channel_layer() -> dict:
    layer = get_channel_layer()
    if layer is None:
        return {"ok": False, "backend": None, "error": "not configured"}
    backend = type(layer).__name__
    channel = None
    try:
        # A round trip through the layer: send to a fresh channel, read it back.
        # Every call checks anew (the pipelined layer retries a publish on a
        # fresh connection), so the answer turns 200 as soon as Redis answers.
        channel = await asyncio.wait_for(layer.new_channel(), timeout=2)
        token = uuid.uuid4().hex
        await asyncio.wait_for(layer.send(channel, {"type": "health.ping", "token": token}), 4)
        message = await asyncio.wait_for(layer.receive(channel), timeout=2)
        return {"ok": message.get("token") == token, "backend": backend}
    except Exception as exc:
        log.warning("health: channel layer check failed: %r", exc)
        return {"ok": False, "backend": backend, "error": type(exc).__name__}
    finally:
        if channel is not None:
            await _forget(layer, channel)


async def _forget(layer, channel: str) -> None:
    """Drop the check's channel (the pub/sub layer would keep it subscribed)."""
    loop_layer = getattr(layer, "_get_layer", None)
    if loop_layer is None:
        return
    loop_layer = loop_layer()
    if loop_layer.channels.pop(channel, None) is None:
        return  # a timed-out receive already cleaned up
    try:
        await loop_layer._get_shard(channel).unsubscribe(channel)
    except Exception:
        log.debug("health: unsubscribing the check channel failed", exc_info=True)


async def healthz(request):
    database = await sync_to_async(_check_database, thread_sensitive=False)()
    layer = await _check_channel_layer()
    ok = database["ok"] and layer["ok"]
    body = {"status": "ok" if ok else "unavailable", "database": database, "channel_layer": layer}
    return JsonResponse(body, status=200 if ok else 503)
