"""A bare relay between the two sockets of a pair, for bench/chat_load.py only.

`ws/bench-echo/<pair>/` relays every text frame to the other sockets of the
same pair through the same channel layer as the platform, with no database,
no checks and no state: the benchmark's baseline (`ratio_vs_bare`). Routed
only with BENCH_ECHO=1 (settings.BENCH_ECHO), never by DEBUG alone.
"""

from __future__ import annotations

from channels.generic.websocket import AsyncWebsocketConsumer


class BenchEchoConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        pair = str(self.scope["url_route"]["kwargs"]["pair"])[:40]
        self.group = f"bench.{pair}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        if text_data is None or len(text_data) > 16384:
            return
        await self.channel_layer.group_send(
            self.group, {"type": "bench.relay", "text": text_data, "sender": self.channel_name}
        )

    async def bench_relay(self, message: dict) -> None:
        if message.get("sender") != self.channel_name:
            await self.send(text_data=message["text"])
