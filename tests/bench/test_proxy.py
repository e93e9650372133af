"""bench/_proxy.py: the benches' reverse proxy reuses connections and passes the address."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _proxy_module():
    spec = importlib.util.spec_from_file_location("bench_proxy", ROOT / "bench" / "_proxy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Worker:
    """A loopback HTTP/1.1 server that answers each POST with what it saw, keep-alive."""

    def __init__(self, *, chunked: bool = False, close_after: int | None = None):
        self.connections = 0
        self.forwarded: list[str] = []
        self.chunked = chunked
        self.close_after = close_after
        self.writers: list[asyncio.StreamWriter] = []

    async def serve(self, reader, writer):
        self.connections += 1
        self.writers.append(writer)
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                fields = dict(
                    line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if line
                )
                body = json.loads(await reader.readexactly(int(fields["Content-Length"])))
                if self.close_after is not None and answered >= self.close_after:
                    # Its keep-alive timeout ran out as the request came: unanswered.
                    writer.close()
                    return
                self.forwarded.append(fields["X-Forwarded-For"])
                data = json.dumps({"n": body["n"], "connection": self.connections}).encode()
                if self.chunked:
                    half = len(data) // 2
                    payload = b"".join(
                        f"{len(part):x}\r\n".encode() + part + b"\r\n"
                        for part in (data[:half], data[half:])
                    )
                    framing = "Transfer-Encoding: chunked"
                    payload += b"0\r\n\r\n"
                else:
                    payload, framing = data, f"Content-Length: {len(data)}"
                writer.write(f"HTTP/1.1 201 Created\r\n{framing}\r\n\r\n".encode() + payload)
                await writer.drain()
                answered += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


async def _with_worker(worker: Worker, run):
    server = await asyncio.start_server(worker.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await run(port)
    finally:
        for writer in worker.writers:
            writer.close()
        server.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_requests_reuse_kept_connections_and_carry_the_customer_address(chunked):
    proxy = _proxy_module()
    worker = Worker(chunked=chunked)

    async def run(port):
        pool = proxy.UpstreamPool(keepalive=2)
        gate = asyncio.Semaphore(2)

        async def one(n):
            async with gate:
                return await pool.post(port, "/api/contacts/", {"n": n}, f"127.0.9.{n}")

        answers = await asyncio.gather(*(one(n) for n in range(10)))
        await pool.close()
        return pool, answers

    pool, answers = asyncio.run(_with_worker(worker, run))
    assert [(status, body["n"]) for status, body in answers] == [(201, n) for n in range(10)]
    assert sorted(worker.forwarded) == sorted(f"127.0.9.{n}" for n in range(10))
    assert worker.connections == pool.opened == 2


def test_a_connection_the_worker_closed_while_idle_is_replaced_and_the_request_sent_again():
    proxy = _proxy_module()
    worker = Worker(close_after=1)

    async def run(port):
        pool = proxy.UpstreamPool(keepalive=1)
        first = await pool.post(port, "/api/contacts/", {"n": 1}, "127.0.9.1")
        second = await pool.post(port, "/api/contacts/", {"n": 2}, "127.0.9.2")
        await pool.close()
        return pool, first, second

    pool, first, second = asyncio.run(_with_worker(worker, run))
    assert (first[1]["n"], second[1]["n"]) == (1, 2)
    assert second[1]["connection"] == 2 and pool.opened == 2
    assert worker.forwarded == ["127.0.9.1", "127.0.9.2"]


def test_the_workers_trust_one_proxy_and_take_the_address_it_appended(settings):
    from helpdesk.client_address import client_address

    settings.TRUSTED_PROXY_COUNT = int(_proxy_module().TRUSTED_PROXY_COUNT)
    meta = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "127.0.9.4"}
    assert client_address(meta) == "127.0.9.4"
