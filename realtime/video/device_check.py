"""The pre-call device check: a server-side aiortc peer that measures what it receives.

The customer's browser sends camera, microphone and a data channel to this
peer (POST /api/device-check/, docs/protocol.md "Device check"). For
DEVICE_CHECK_DURATION_S the peer counts frames, measures the picture size,
the frame rate and the microphone level, pings over the data channel for the
round-trip time and reads packet loss from the receivers' RTP statistics;
then it sends one JSON report over the data channel and closes.

Every peer has one owner, a `DeviceCheck`, kept in the process's
`DeviceCheckRegistry`. The owner closes the peer, cancels its tasks and leaves
the registry on every path: connection failed or closed, data channel
closed, the client said it is done, the hard timeout (DEVICE_CHECK_TIMEOUT_S),
and worker shutdown (`DeviceCheckLifespan`, a lifespan hook). The registry
caps concurrent checks per process (DEVICE_CHECK_MAX_CONCURRENT): each check
decodes video in Python's process, and `bench/video.py` measures what one
worker sustains.

ICE servers come only from settings through realtime/video/ice.py (never
aiortc's public default); the browser also gets a TURN credential. With
WEBRTC_LOOPBACK_ONLY (tests, benches) the peer gathers and accepts loopback
candidates only, so that no packet leaves 127.0.0.0/8.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import secrets
import statistics
import time
from dataclasses import dataclass

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from django.conf import settings

from helpdesk.services.errors import InvalidInput, ServiceError
from realtime.video import ice
from realtime.video.tracks import AudioProbe, VideoProbe

log = logging.getLogger(__name__)

MAX_SDP_CHARS = 64 * 1024
MAX_CANDIDATES = 40
# How long the report may take to reach the browser before the peer closes
# anyway; the browser normally says "done" (or closes) first.
REPORT_GRACE_S = 3.0


class Busy(ServiceError):
    code = "busy"
    http_status = 503


@dataclass(frozen=True)
class CheckParams:
    duration_s: float
    timeout_s: float
    ping_interval_s: float = 0.25

    @classmethod
    def from_settings(cls) -> CheckParams:
        return cls(
            duration_s=float(settings.DEVICE_CHECK_DURATION_S),
            timeout_s=float(settings.DEVICE_CHECK_TIMEOUT_S),
        )


# --- input ----------------------------------------------------------------


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # an mDNS name (xxxx.local) or garbage
        return False


def check_offer(sdp: object, *, loopback_only: bool = False) -> str:
    """The offer SDP, checked and (in loopback mode) stripped of other candidates.

    aiortc raises assorted exceptions on malformed SDP; this catches what can
    be seen cheaply and bounds the work an offer can ask for (one audio, one
    video, one data channel, a few dozen candidates).
    """
    if not isinstance(sdp, str) or not sdp.strip():
        raise InvalidInput("The offer must be a non-empty SDP text.")
    if len(sdp) > MAX_SDP_CHARS:
        raise InvalidInput(f"The offer is too long (at most {MAX_SDP_CHARS} characters).")
    if "\x00" in sdp or any(0xD800 <= ord(ch) <= 0xDFFF for ch in sdp):
        raise InvalidInput("The offer contains characters that SDP does not allow.")
    lines = sdp.replace("\r\n", "\n").split("\n")
    if lines[0].strip() != "v=0":
        raise InvalidInput("The offer is not SDP: it must start with v=0.")
    kinds: dict[str, int] = {}
    candidates = 0
    kept: list[str] = []
    for line in lines:
        if line.startswith("m="):
            kind = line[2:].split(" ", 1)[0]
            if kind not in ("audio", "video", "application"):
                raise InvalidInput(f"Unsupported media section: {kind[:20]}.")
            kinds[kind] = kinds.get(kind, 0) + 1
        elif line.startswith("a=candidate:"):
            candidates += 1
            parts = line.split()
            if len(parts) < 8:
                raise InvalidInput("A candidate line is malformed.")
            if loopback_only and not _loopback(parts[4]):
                continue
        kept.append(line)
    if any(count > 1 for count in kinds.values()):
        raise InvalidInput("The offer may carry at most one audio and one video track.")
    if kinds.get("application") != 1:
        raise InvalidInput("The offer must include a data channel for the report.")
    if candidates > MAX_CANDIDATES:
        raise InvalidInput(f"The offer has too many candidates (at most {MAX_CANDIDATES}).")
    return "\r\n".join(line.rstrip("\r") for line in kept)


def ice_configuration() -> RTCConfiguration:
    """The configured STUN servers or an empty list, never aiortc's public default.

    The peer answers from the worker's own addresses (plus a server-reflexive
    one behind NAT); it needs no TURN relay of its own, so it takes none.
    """
    urls = ice.stun_urls()
    return RTCConfiguration(iceServers=[RTCIceServer(urls=urls)] if urls else [])


def browser_ice_servers() -> list[dict]:
    """What the customer's browser gets: STUN and a short-lived TURN credential."""
    peer_id = f"device-check-{secrets.token_hex(6)}"
    return ice.ice_config(peer_id=peer_id, relay_only=False).ice_servers


def use_loopback_only() -> None:
    """Make this process's aiortc peers gather host candidates on 127.0.0.1 only.

    aioice has no option for it: it lists every interface but loopback
    (`aioice.ice.get_host_addresses`). Tests and benches must not send to any
    address outside 127.0.0.0/8, so this replaces that one lookup, process-wide.
    tests/realtime/video checks the effect (an answer with only 127.0.0.1).
    """
    import aioice.ice

    def loopback_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return ["127.0.0.1"] if use_ipv4 else []

    aioice.ice.get_host_addresses = loopback_addresses


# --- verdicts (pure) --------------------------------------------------------


def assess(report: dict) -> dict:
    """Plain verdicts the page turns into sentences: camera, microphone, connection."""
    video, audio, conn = report.get("video"), report.get("audio"), report["connection"]
    if video is None:
        camera = "none"
    elif not video["frames"]:
        camera = "no_frames"
    elif video["fps"] < 5:
        camera = "slow"
    else:
        camera = "ok"
    if audio is None:
        microphone = "none"
    elif not audio["frames"] or audio["peak_dbfs"] < -70:
        microphone = "silent"
    elif audio["loudest_dbfs"] < -50:
        microphone = "quiet"
    else:
        microphone = "ok"
    rtt, loss = conn["rtt_ms"], conn["loss_pct"]
    if rtt is None:
        connection = "unknown"
    elif rtt <= 150 and (loss or 0) <= 2:
        connection = "good"
    elif rtt <= 400 and (loss or 0) <= 10:
        connection = "fair"
    else:
        connection = "poor"
    return {"camera": camera, "microphone": microphone, "connection": connection}


# --- the owner of one peer -----------------------------------------------------


class DeviceCheck:
    """One server-side peer, its measuring tasks and its closing paths."""

    def __init__(self, registry: DeviceCheckRegistry, params: CheckParams):
        self.id = secrets.token_hex(4)
        self.params = params
        self._registry = registry
        self.pc = RTCPeerConnection(configuration=ice_configuration())
        self.video: VideoProbe | None = None
        self.audio: AudioProbe | None = None
        self.channel = None
        self.answer_sdp: str | None = None
        self.report: dict | None = None
        self.close_reason: str | None = None
        self._tasks: set[asyncio.Task] = set()
        self._pings: dict[int, float] = {}
        self._rtts: list[float] = []
        self._closing = False
        self.closed = asyncio.Event()
        self.pc.on("track", self._on_track)
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("connectionstatechange", self._on_connection_state)

    def _spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro, name=f"device-check-{self.id}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "device check %s: task %s failed",
                self.id,
                task.get_name(),
                exc_info=task.exception(),
            )
            if not self._closing:
                self._spawn(self.close("error"), "close")

    # -- negotiation

    async def negotiate(self, offer_sdp: str) -> str:
        """Answer the offer (aiortc gathers all candidates first: no trickle)."""
        self._spawn(self._watchdog(), "watchdog")
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        except asyncio.CancelledError:
            # The request went away while the answer was being made.
            await self.close("cancelled")
            raise
        except Exception as exc:
            log.info("device check %s: offer refused: %s", self.id, exc)
            await self.close("invalid-offer")
            raise InvalidInput(f"The offer could not be used: {exc}"[:300]) from None
        log.info("device check %s: answered", self.id)
        return self.pc.localDescription.sdp

    # -- events

    def _on_track(self, track) -> None:
        if track.kind == "video" and self.video is None:
            self.video = VideoProbe(track)
            self._spawn(self.video.run(), "video")
        elif track.kind == "audio" and self.audio is None:
            self.audio = AudioProbe(track)
            self._spawn(self.audio.run(), "audio")

    def _on_datachannel(self, channel) -> None:
        if self.channel is not None or self._closing:
            channel.close()
            return
        self.channel = channel
        channel.on("message", self._on_message)
        channel.on("close", lambda: self._closing or self._spawn(self.close("channel"), "close"))
        self._spawn(self._measure(), "measure")

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        log.debug("device check %s: connection %s", self.id, state)
        if state in ("failed", "closed", "disconnected") and not self._closing:
            self._spawn(self.close(f"connection-{state}"), "close")

    def _on_message(self, message) -> None:
        if not isinstance(message, str) or len(message) > 1000:
            return
        try:
            data = json.loads(message)
        except (ValueError, RecursionError):
            return
        if not isinstance(data, dict):
            return
        if data.get("type") == "pong" and isinstance(data.get("id"), int):
            sent = self._pings.pop(data["id"], None)
            if sent is not None:
                self._rtts.append((time.monotonic() - sent) * 1000.0)
        elif data.get("type") == "done" and not self._closing:
            self._spawn(self.close("done"), "close")

    # -- measuring

    async def _measure(self) -> None:
        if self.video is not None:
            self.video.start_window()
        started = time.monotonic()
        ping_id = 0
        while time.monotonic() - started < self.params.duration_s:
            if self.channel.readyState == "open":
                ping_id += 1
                self._pings[ping_id] = time.monotonic()
                self.channel.send(json.dumps({"type": "ping", "id": ping_id}))
            await asyncio.sleep(self.params.ping_interval_s)
        self.report = await self.build_report(time.monotonic() - started)
        verdict = self.report["verdict"]
        log.info(
            "device check %s: report camera=%s microphone=%s connection=%s",
            self.id,
            verdict["camera"],
            verdict["microphone"],
            verdict["connection"],
        )
        if self.channel.readyState == "open":
            self.channel.send(json.dumps(self.report))
        await asyncio.sleep(REPORT_GRACE_S)
        await self.close("reported")

    async def build_report(self, duration_s: float) -> dict:
        received = lost = 0
        for stats in (await self.pc.getStats()).values():
            if stats.type == "inbound-rtp":
                received += stats.packetsReceived
                lost += max(stats.packetsLost, 0)
        expected = received + lost
        rtt = statistics.median(self._rtts) if self._rtts else None
        report = {
            "type": "report",
            "duration_s": round(duration_s, 1),
            "video": self.video.summary() if self.video else None,
            "audio": self.audio.summary() if self.audio else None,
            "connection": {
                "rtt_ms": round(rtt, 1) if rtt is not None else None,
                "pings": len(self._rtts),
                "packets_received": received,
                "packets_lost": lost,
                "loss_pct": round(100.0 * lost / expected, 1) if expected else None,
            },
        }
        report["verdict"] = assess(report)
        return report

    async def _watchdog(self) -> None:
        await asyncio.sleep(self.params.timeout_s)
        await self.close("timeout")

    # -- closing

    async def close(self, reason: str) -> None:
        """Idempotent; safe from any of the check's own tasks."""
        if self._closing:
            await self.closed.wait()
            return
        self._closing = True
        self.close_reason = reason
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        try:
            await asyncio.wait_for(self.pc.close(), timeout=10)
        except Exception:
            log.warning("device check %s: error while closing the peer", self.id, exc_info=True)
        finally:
            self._registry._discard(self)
            self.closed.set()
            log.info("device check %s: closed (%s)", self.id, reason)


class DeviceCheckRegistry:
    """The process's live checks, capped; closes them all on shutdown."""

    def __init__(self) -> None:
        self._live: set[DeviceCheck] = set()

    def __len__(self) -> int:
        return len(self._live)

    @property
    def live(self) -> frozenset[DeviceCheck]:
        return frozenset(self._live)

    async def start(self, *, offer_sdp: object, params: CheckParams | None = None) -> DeviceCheck:
        """Check the offer, take a slot, answer. Raises InvalidInput or Busy."""
        loopback_only = settings.WEBRTC_LOOPBACK_ONLY
        sdp = check_offer(offer_sdp, loopback_only=loopback_only)
        if loopback_only:
            use_loopback_only()
        # The slot is taken before the first await, so a burst cannot overshoot.
        if len(self._live) >= int(settings.DEVICE_CHECK_MAX_CONCURRENT):
            raise Busy("The device check is busy right now. Please try again in a moment.")
        check = DeviceCheck(self, params or CheckParams.from_settings())
        self._live.add(check)
        check.answer_sdp = await check.negotiate(sdp)
        return check

    def _discard(self, check: DeviceCheck) -> None:
        self._live.discard(check)

    async def close_all(self, reason: str = "shutdown") -> None:
        checks = list(self._live)
        if checks:
            log.info("closing %d device checks (%s)", len(checks), reason)
        await asyncio.gather(*(check.close(reason) for check in checks), return_exceptions=True)


registry = DeviceCheckRegistry()


class DeviceCheckLifespan:
    """Lifespan hook (settings.LIFESPAN_HOOKS): closes every live check on shutdown."""

    async def start(self) -> None:
        """Nothing to start: checks begin with their requests."""

    async def stop(self) -> None:
        await registry.close_all("shutdown")
