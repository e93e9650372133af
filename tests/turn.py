"""A throwaway coturn on loopback for the tests that check relay-only video.

Started once per test session on a free port, in a temporary directory, with
the TURN REST API shared secret (the scheme realtime/video/turn.py issues
credentials for) and loopback peers allowed; stopped and removed at the end.
When Debian's `coturn` is not installed the tests that need it fail and say
so: relay-only is a privacy promise, never skipped in silence.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

TURNSERVER = os.environ.get("TURNSERVER", "/usr/bin/turnserver")
REALM = "digituki.test"


def _free_udp_and_tcp_port() -> int:
    for _ in range(50):
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port for coturn")


def stun_binding_ok(port: int, timeout: float = 0.5) -> bool:
    """Send a STUN Binding request (RFC 5389) and expect a success response."""
    transaction = secrets.token_bytes(12)
    request = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + transaction
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(timeout)
        try:
            udp.sendto(request, ("127.0.0.1", port))
            data, _ = udp.recvfrom(2048)
        except OSError:
            return False
    return len(data) >= 20 and data[:2] == b"\x01\x01" and data[8:20] == transaction


class Coturn:
    def __init__(self) -> None:
        self.port = _free_udp_and_tcp_port()
        self.secret = secrets.token_urlsafe(24)
        self.url = f"turn:127.0.0.1:{self.port}?transport=udp"
        self.dir = Path(tempfile.mkdtemp(prefix="coturn-"))
        self.log_path = self.dir / "turnserver.log"
        low = random.randrange(40000, 60000, 200)
        self.min_port, self.max_port = low, low + 199
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                TURNSERVER,
                "-n",  # no configuration file: only these options
                f"--listening-port={self.port}",
                "--listening-ip=127.0.0.1",
                "--relay-ip=127.0.0.1",
                f"--min-port={low}",
                f"--max-port={low + 199}",
                "--use-auth-secret",
                f"--static-auth-secret={self.secret}",
                f"--realm={REALM}",
                "--allow-loopback-peers",
                "--no-cli",
                "--no-tls",
                "--no-dtls",
                "--log-file=stdout",
                f"--pidfile={self.dir / 'turnserver.pid'}",
                f"--userdb={self.dir / 'turndb.sqlite'}",
            ],
            cwd=self.dir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while not stun_binding_ok(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"coturn did not start: {self.log_text()[-2000:]}")
            time.sleep(0.1)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def coturn():
    """The session's throwaway TURN server: `.url`, `.secret`, `.log_text()`."""
    if not os.access(TURNSERVER, os.X_OK):
        pytest.fail(
            f"coturn's turnserver is not installed at {TURNSERVER} (Debian: apt-get install"
            " coturn); the relay-only video tests need it",
            pytrace=False,
        )
    server = Coturn()
    yield server
    server.stop()
