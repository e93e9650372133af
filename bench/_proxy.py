"""The reverse proxy of the production shape, as the benches' customers reach the workers.

README "Production shape": a TLS-terminating proxy (nginx, HAProxy, a load
balancer) sits in front of the workers. It keeps its upstream connections to
each worker open between requests (nginx's `keepalive N` in an upstream:
a cache of at most N idle connections per worker; a request that finds none
idle opens another, which is closed afterwards if the cache is full) and
appends the address it received the request from to X-Forwarded-For. The
workers run with TRUSTED_PROXY_COUNT=1, so helpdesk/client_address.py takes
that last entry as the customer's address (for the per-address creation
limit) while the connection itself comes from the proxy's address.

`UpstreamPool.post` sends one request that way and answers (status, JSON
body). A connection the worker closed while it lay idle (its keep-alive
timeout) fails before any answer byte: the request is sent again on a new
connection, as nothing of it was processed.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque

DEFAULT_KEEPALIVE = 32
"""Idle connections kept per worker (nginx's upstream `keepalive`)."""

TRUSTED_PROXY_COUNT = "1"
"""The workers' setting for one proxy in front of them: give it to their environment."""


class UpstreamPool:
    """Keep-alive connections to the workers on 127.0.0.1, a cache of idle ones per port."""

    def __init__(self, *, keepalive: int = DEFAULT_KEEPALIVE, timeout_s: float = 60.0):
        if keepalive < 0:
            raise ValueError("keepalive must be 0 or more")
        self.keepalive = keepalive
        self.timeout_s = timeout_s
        self._idle: dict[int, deque] = {}
        self.opened = 0
        """Connections opened over the pool's life (what the workers paid a set-up for)."""

    async def post(
        self, port: int, path: str, body: dict, customer: str, headers: dict | None = None
    ) -> tuple[int, dict]:
        payload = json.dumps(body).encode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        request = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            f"X-Forwarded-For: {customer}\r\n{extra}\r\n"
        ).encode() + payload
        for _ in range(2):
            conn, reused = await self._take(port)
            try:
                status, head, data = await asyncio.wait_for(
                    self._exchange(conn, request), timeout=self.timeout_s
                )
            except (asyncio.IncompleteReadError, ConnectionError) as error:
                conn[1].close()
                if reused and not getattr(error, "partial", b""):
                    continue  # closed by the worker while idle: nothing was processed
                raise
            except BaseException:
                conn[1].close()
                raise
            if b"connection: close" in head.lower():
                conn[1].close()
            else:
                self._give_back(port, conn)
            try:
                return status, json.loads(data or b"{}")
            except ValueError:
                return status, {}
        raise ConnectionError(f"worker on port {port} closed two connections in a row")

    async def close(self) -> None:
        for idle in self._idle.values():
            while idle:
                _reader, writer = idle.popleft()
                writer.close()

    async def _take(self, port: int):
        idle = self._idle.setdefault(port, deque())
        while idle:
            conn = idle.pop()
            if not conn[0].at_eof():
                return conn, True
            conn[1].close()
        self.opened += 1
        return await asyncio.open_connection("127.0.0.1", port), False

    def _give_back(self, port: int, conn) -> None:
        idle = self._idle.setdefault(port, deque())
        if len(idle) < self.keepalive:
            idle.append(conn)
        else:
            conn[1].close()

    @staticmethod
    async def _exchange(conn, request: bytes) -> tuple[int, bytes, bytes]:
        reader, writer = conn
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        fields = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
            data = b""
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")  # no trailers are sent
                    break
                data += (await reader.readexactly(size + 2))[:-2]
        elif b"content-length" in fields:
            data = await reader.readexactly(int(fields[b"content-length"]))
        else:
            data = await reader.read()  # the answer ends with the connection
        return status, head, data
