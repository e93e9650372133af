"""A stand-in for Twilio: places simulated calls and answers the platform's REST calls.

Used by the tests, `manage.py simulate_call` and the webhook benchmark; never
by the running platform. A `SimulatedCall` does what Twilio does with a call:
it sends signed webhook requests (RequestValidator.compute_signature over the
public URL), parses each TwiML answer as XML and follows `<Gather>` (with the
digits the script gives, or a timeout), `<Say>`, `<Play>`, `<Pause>`,
`<Redirect>`, `<Enqueue>` (the waitUrl loop, `<Leave>`, the action with
QueueResult and QueueTime), `<Dial>` (the action with DialCallStatus and
DialCallDuration), `<Dial><Conference>` (a room shared by the calls that join
it, ended when a participant with endConferenceOnExit leaves) and
`<Hangup>`, and sends status callbacks (an outbound call's to its own
StatusCallback). `TwilioStandIn`
answers the REST requests the platform makes (redirect a call, dial a new one)
and hands them to the simulated calls; `StandInHttpClient` plugs it into the
Twilio `Client` in-process and `serve_stand_in` serves it over HTTP for a live
server (TWILIO_API_BASE_URL).
"""

from __future__ import annotations

import http.client
import itertools
import json
import logging
import secrets
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from twilio.http import HttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.request_validator import RequestValidator

MAX_STEPS = 200


def new_call_sid() -> str:
    return "CA" + secrets.token_hex(16)


@dataclass
class Fetched:
    """One webhook request the driver made and what came back."""

    url: str
    params: dict[str, str]
    status: int
    body: str
    context: str  # "call", "wait", "action" (an answer whose TwiML is ignored), "status"


class Transport:
    """Sends one signed POST; `url` is the public URL Twilio would call."""

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        raise NotImplementedError


class HttpTransport(Transport):
    """To a running server; the public base URL is replaced by the server's own address,
    as a TLS-terminating proxy in front of it would do.

    One connection per request, closed after the answer, as a webhook from
    outside arrives. http.client directly rather than urllib's opener: the
    webhook benchmark sends hundreds a second from one process, and the
    opener's handler chain cost more CPU than the request itself.
    """

    def __init__(self, public_base_url: str, server_url: str, *, proxy_proto: str | None = None):
        self.public = public_base_url.rstrip("/")
        self.server = server_url.rstrip("/")
        self.proxy_proto = proxy_proto

    def post(self, url, params, headers):
        target = self.server + url[len(self.public) :] if url.startswith(self.public) else url
        parts = urllib.parse.urlsplit(target)
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        request_headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Connection": "close",
            **headers,
        }
        if self.proxy_proto:
            request_headers["X-Forwarded-Proto"] = self.proxy_proto
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection = connection_class(parts.netloc, timeout=30)
        try:
            connection.request(
                "POST", path, body=urllib.parse.urlencode(params), headers=request_headers
            )
            response = connection.getresponse()
            return response.status, response.read().decode(errors="replace")
        finally:
            connection.close()


class DjangoTransport(Transport):
    """In-process, through django.test.Client (for tests without a server)."""

    def __init__(self, public_base_url: str, client=None):
        from django.test import Client

        self.public = public_base_url.rstrip("/")
        self.client = client or Client()

    def post(self, url, params, headers):
        path = url[len(self.public) :] if url.startswith(self.public) else url
        meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
        response = self.client.post(path, params, **meta)
        return response.status_code, response.content.decode()


class TwilioError(AssertionError):
    """The platform answered something Twilio would not accept."""


@dataclass
class DialResult:
    status: str = "completed"  # completed, busy, no-answer, failed, canceled
    duration_s: int = 60


@dataclass
class SimulatedCall:
    """One call leg, inbound (a caller) or outbound (a callback the platform dialled)."""

    driver: CallDriver
    from_number: str
    to_number: str
    direction: str = "inbound"
    digits: deque = field(default_factory=deque)  # answers to menus: "1" or None (timeout)
    wait_keys: deque = field(default_factory=deque)  # keys pressed in the wait loop
    on_dial: Callable[[str, str, dict], DialResult] | None = None
    sid: str = field(default_factory=new_call_sid)
    state: str = "ringing"  # in-progress, queued, completed
    said: list[tuple[str, str, str]] = field(default_factory=list)  # text, language, voice
    fetched: list[Fetched] = field(default_factory=list)
    dialled: list[tuple[str, str, dict]] = field(default_factory=list)  # kind, target, attrs
    enqueue: dict | None = None
    queue_entered: float | None = None
    started: float = field(default_factory=time.monotonic)
    pending_redirect: str | None = None
    redirect_event: threading.Event = field(default_factory=threading.Event)
    status_callback: str = ""  # an outbound call's StatusCallback
    answer_url: str = ""  # an outbound call's Url
    conference: str | None = None  # the room this call is in
    wake: threading.Event = field(default_factory=threading.Event)

    # --- requests ---------------------------------------------------------

    def params(self, **extra) -> dict[str, str]:
        params = {
            "CallSid": self.sid,
            "AccountSid": self.driver.account_sid,
            "From": self.from_number,
            "To": self.to_number,
            "Direction": "inbound" if self.direction == "inbound" else "outbound-api",
            "CallStatus": "in-progress" if self.state != "completed" else "completed",
            "ApiVersion": "2010-04-01",
        }
        params.update({k: str(v) for k, v in extra.items() if v is not None})
        return params

    def post(self, url: str, context: str, **extra) -> Fetched:
        params = self.params(**extra)
        status, body = self.driver.send(url, params)
        fetched = Fetched(url, params, status, body, context)
        self.fetched.append(fetched)
        self.driver.fetched.append(fetched)
        return fetched

    def _twiml(self, fetched: Fetched) -> list[ET.Element]:
        if fetched.status != 200:
            raise TwilioError(f"{fetched.url} answered {fetched.status}: {fetched.body[:200]}")
        try:
            root = ET.fromstring(fetched.body)
        except ET.ParseError as exc:
            raise TwilioError(f"{fetched.url} answered invalid XML: {exc}") from exc
        if root.tag != "Response":
            raise TwilioError(f"{fetched.url}: root element is {root.tag}, not Response")
        return list(root)

    def _resolve(self, base: str, url: str | None) -> str:
        return urllib.parse.urljoin(base, url) if url else base

    # --- the call ---------------------------------------------------------

    def start(self) -> str:
        """Ring the platform's voice webhook and follow the TwiML until queued or over."""
        self.state = "in-progress"
        self.driver.status(self, "ringing")
        return self.run(self.driver.voice_url)

    def answer(self, url: str) -> str:
        """An outbound call the platform placed is answered: fetch its TwiML."""
        self.state = "in-progress"
        return self.run(url)

    def run(self, url: str, *, context: str = "call", **extra) -> str:
        steps = 0
        while url and steps < MAX_STEPS:
            steps += 1
            fetched = self.post(url, context, **extra)
            extra = {}
            url = self._execute(self._twiml(fetched), fetched.url)
        if steps >= MAX_STEPS:
            raise TwilioError("the TwiML kept redirecting")
        return self.state

    def _execute(self, verbs: Iterable[ET.Element], base: str) -> str | None:
        """Run verbs of one document; return the next URL to fetch, or None."""
        for verb in verbs:
            tag = verb.tag
            if tag == "Say":
                self.said.append((verb.text or "", verb.get("language", ""), verb.get("voice", "")))
            elif tag in ("Pause", "Play"):
                continue
            elif tag == "Gather":
                for child in verb:
                    if child.tag == "Say":
                        self.said.append(
                            (child.text or "", child.get("language", ""), child.get("voice", ""))
                        )
                pressed = self.digits.popleft() if self.digits else None
                if pressed:
                    return self._gathered(verb, base, pressed)
            elif tag == "Redirect":
                return self._resolve(base, (verb.text or "").strip())
            elif tag == "Hangup":
                self.hang_up(by="platform")
                return None
            elif tag == "Enqueue":
                self.enqueue = {
                    "queue": (verb.text or "").strip(),
                    "wait_url": self._resolve(base, verb.get("waitUrl")),
                    "action": self._resolve(base, verb.get("action")) if verb.get("action") else "",
                }
                self.queue_entered = time.monotonic()
                self.state = "queued"
                return None
            elif tag == "Dial":
                return self._dial(verb, base)
            elif tag == "Leave":
                raise TwilioError("<Leave> outside a queue's wait TwiML")
            else:
                raise TwilioError(f"unknown verb <{tag}>")
        # End of the document: Twilio hangs up.
        self.hang_up(by="platform")
        return None

    def _gathered(self, verb: ET.Element, base: str, pressed: str) -> str | None:
        action = self._resolve(base, verb.get("action"))
        fetched = self.post(action, "call", Digits=pressed)
        return self._execute(self._twiml(fetched), fetched.url)

    def _dial(self, verb: ET.Element, base: str) -> str | None:
        nouns = list(verb)
        if nouns and nouns[0].tag == "Conference":
            return self._conference(verb, nouns[0], base)
        targets = [(child.tag, (child.text or "").strip()) for child in verb]
        if not targets and (verb.text or "").strip():
            targets = [("Number", verb.text.strip())]
        kind, target = targets[0] if targets else ("", "")
        attrs = dict(verb.attrib)
        self.dialled.append((kind, target, attrs))
        result = self.on_dial(kind, target, attrs) if self.on_dial else DialResult()
        self.state = "in-progress"
        if self.pending_redirect:
            # A REST redirect of this call ended the bridge: no Dial action,
            # the call goes on with the new TwiML.
            url, self.pending_redirect = self.pending_redirect, None
            self.redirect_event.clear()
            return url
        if verb.get("action"):
            fetched = self.post(
                self._resolve(base, verb.get("action")),
                "call",
                DialCallStatus=result.status,
                DialCallDuration=result.duration_s if result.status == "completed" else 0,
                DialCallSid=new_call_sid(),
            )
            return self._execute(self._twiml(fetched), fetched.url)
        return None

    def _conference(self, verb: ET.Element, noun: ET.Element, base: str) -> str | None:
        """In the room until it ends, the call is redirected (leaving it) or hangs up."""
        name = (noun.text or "").strip()
        attrs = dict(noun.attrib)
        for flag in ("startConferenceOnEnter", "endConferenceOnExit", "beep"):
            if attrs.get(flag, "true") not in ("true", "false"):
                raise TwilioError(f"<Conference {flag}> must be true or false")
        self.dialled.append(("Conference", name, attrs))
        self.state = "in-progress"
        self.driver.join_conference(name, self, ends_it=attrs.get("endConferenceOnExit") == "true")
        deadline = time.monotonic() + self.driver.conference_timeout_s
        while True:
            if self.state == "completed":
                self.driver.leave_conference(name, self)
                return None
            if self.pending_redirect:
                self.driver.leave_conference(name, self)
                url, self.pending_redirect = self.pending_redirect, None
                self.redirect_event.clear()
                return url
            if self.conference is None:
                break  # the conference ended without this call
            if time.monotonic() > deadline:
                raise TwilioError(f"conference {name} never ended")
            self.wake.wait(0.1)
            self.wake.clear()
        if verb.get("action"):
            fetched = self.post(
                self._resolve(base, verb.get("action")), "call", DialCallStatus="completed"
            )
            return self._execute(self._twiml(fetched), fetched.url)
        self.hang_up(by="platform")  # nothing after the <Dial> in our TwiML
        return None

    def talking(self, timeout: float = 30.0) -> Callable[[str, str, dict], DialResult]:
        """An `on_dial` that talks until the platform redirects the call (REST)."""

        def talk(_kind, _target, _attrs) -> DialResult:
            self.redirect_event.wait(timeout)
            return DialResult("completed", int(time.monotonic() - self.started))

        return talk

    def answer_in_thread(self) -> threading.Thread:
        """An outbound call is picked up (a softphone answering at once)."""
        thread = threading.Thread(target=self.answer, args=(self.answer_url,), daemon=True)
        thread.start()
        return thread

    def not_answered(self, status: str = "no-answer") -> None:
        """An outbound call nobody picks up: its final status, and nothing else."""
        if self.state == "completed":
            return
        self.state = "completed"
        self.driver.status(self, status, CallDuration=0)

    # --- the queue --------------------------------------------------------

    def queue_time(self) -> int:
        return int(time.monotonic() - (self.queue_entered or time.monotonic()))

    def wait_round(self) -> str:
        """One turn of the wait loop (Twilio fetches waitUrl again whenever it ends)."""
        if self.state != "queued":
            return self.state
        if self.pending_redirect:
            return self.follow_redirect()
        fetched = self.post(
            self.enqueue["wait_url"],
            "wait",
            QueueSid="QU" + "0" * 32,
            QueuePosition=1,
            QueueTime=self.queue_time(),
            AvgQueueTime=0,
            CurrentQueueSize=1,
        )
        self._wait_verbs(self._twiml(fetched), fetched.url)
        return self.state

    def _wait_verbs(self, verbs: list[ET.Element], base: str) -> None:
        for verb in verbs:
            if self.state != "queued":
                return
            tag = verb.tag
            if tag == "Say":
                self.said.append((verb.text or "", verb.get("language", ""), verb.get("voice", "")))
            elif tag in ("Pause", "Play"):
                continue
            elif tag == "Gather":
                for child in verb:
                    if child.tag == "Say":
                        self.said.append(
                            (child.text or "", child.get("language", ""), child.get("voice", ""))
                        )
                pressed = self.wait_keys.popleft() if self.wait_keys else None
                if pressed:
                    fetched = self.post(
                        self._resolve(base, verb.get("action")), "wait", Digits=pressed
                    )
                    self._wait_verbs(self._twiml(fetched), fetched.url)
                    return
            elif tag == "Redirect":
                fetched = self.post(self._resolve(base, (verb.text or "").strip()), "wait")
                self._wait_verbs(self._twiml(fetched), fetched.url)
                return
            elif tag == "Leave":
                self._leave_queue("leave", follow=True)
                return
            elif tag == "Hangup":
                self._leave_queue("hangup", follow=False)
                self.hang_up(by="platform")
                return
            else:
                raise TwilioError(f"<{tag}> is not allowed in a queue's wait TwiML")

    def _leave_queue(self, result: str, *, follow: bool) -> None:
        queued = self.enqueue or {}
        waited = self.queue_time()
        self.state = "in-progress"
        if not queued.get("action"):
            return
        fetched = self.post(
            queued["action"],
            "call" if follow else "action",
            QueueResult=result,
            QueueTime=waited,
            QueueSid="QU" + "0" * 32,
        )
        if follow:
            url = self._execute(self._twiml(fetched), fetched.url)
            if url:
                self.run(url)

    def redirect(self, url: str) -> None:
        """The platform's REST update: applied at the next turn of the call."""
        self.pending_redirect = url
        self.redirect_event.set()
        self.wake.set()

    def follow_redirect(self) -> str:
        url, self.pending_redirect = self.pending_redirect, None
        self.redirect_event.clear()
        if self.state == "queued":
            self._leave_queue("redirected", follow=False)
        return self.run(url)

    def wait_until_redirected(self, timeout: float = 30.0, *, turn_s: float = 0.3) -> str:
        """Loop in the queue (as the hold music does) until the platform redirects the call."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.state == "queued":
            if self.pending_redirect:
                return self.follow_redirect()
            self.wait_round()
            self.redirect_event.wait(turn_s)
        if self.pending_redirect:
            return self.follow_redirect()
        return self.state

    # --- the end ----------------------------------------------------------

    def hang_up(self, *, by: str = "caller") -> None:
        if self.state == "completed":
            return
        if by == "caller" and self.state == "queued":
            self._leave_queue("hangup", follow=False)
        self.state = "completed"
        self.wake.set()
        self.driver.status(self, "completed", CallDuration=int(time.monotonic() - self.started))

    def transcript(self) -> str:
        return " ".join(text for text, _lang, _voice in self.said)


class CallDriver:
    """Places simulated calls against the platform and collects every TwiML answer."""

    def __init__(
        self,
        *,
        public_base_url: str,
        auth_token: str,
        account_sid: str,
        platform_number: str,
        transport: Transport,
    ):
        self.public = public_base_url.rstrip("/")
        self.validator = RequestValidator(auth_token)
        self.account_sid = account_sid
        self.platform_number = platform_number
        self.transport = transport
        self.voice_url = f"{self.public}/telephony/voice/incoming"
        self.status_url = f"{self.public}/telephony/voice/status"
        self.fetched: list[Fetched] = []
        self.calls: dict[str, SimulatedCall] = {}
        self.status_sent: list[tuple[str, str]] = []
        self.conferences: dict[str, dict[str, bool]] = {}  # room -> CallSid -> ends it
        self.conference_timeout_s = 120.0
        self._rooms = threading.Lock()

    def join_conference(self, name: str, call: SimulatedCall, *, ends_it: bool) -> None:
        with self._rooms:
            self.conferences.setdefault(name, {})[call.sid] = ends_it
        call.conference = name

    def leave_conference(self, name: str, call: SimulatedCall) -> None:
        """The call leaves; if it ends the conference, everyone else drops out too."""
        with self._rooms:
            members = self.conferences.get(name, {})
            ends_it = members.pop(call.sid, False)
            dropped = list(members) if ends_it else []
            if ends_it or not members:
                self.conferences.pop(name, None)
        call.conference = None
        for sid in dropped:
            other = self.calls.get(sid)
            if other is not None:
                other.conference = None
                other.wake.set()

    def in_conference(self, name: str) -> set[str]:
        with self._rooms:
            return set(self.conferences.get(name, {}))

    def sign(self, url: str, params: dict[str, str]) -> str:
        return self.validator.compute_signature(url, params)

    def send(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        headers = {"X-Twilio-Signature": self.sign(url, params)}
        return self.transport.post(url, params, headers)

    def status(self, call: SimulatedCall, status: str, **extra) -> Fetched:
        self.status_sent.append((call.sid, status))
        params = call.params(CallbackSource="call-progress-events", **extra)
        params["CallStatus"] = status
        url = call.status_callback or self.status_url
        code, body = self.send(url, params)
        fetched = Fetched(url, params, code, body, "status")
        self.fetched.append(fetched)
        return fetched

    def call(
        self,
        from_number: str,
        *,
        digits: Iterable[str | None] = (),
        wait_keys: Iterable[str | None] = (),
        on_dial: Callable[[str, str, dict], DialResult] | None = None,
    ) -> SimulatedCall:
        call = SimulatedCall(
            self,
            from_number,
            self.platform_number,
            digits=deque(digits),
            wait_keys=deque(wait_keys),
            on_dial=on_dial,
        )
        self.calls[call.sid] = call
        return call

    def outbound(
        self, *, to: str, from_: str, url: str, sid: str, status_callback: str = ""
    ) -> SimulatedCall:
        call = SimulatedCall(
            self,
            from_,
            to,
            direction="outbound",
            sid=sid,
            answer_url=url,
            status_callback=status_callback,
        )
        self.calls[sid] = call
        return call


class TwilioStandIn:
    """Answers the platform's REST requests the way api.twilio.com would, and records them."""

    def __init__(self, driver: CallDriver | None = None, account_sid: str = ""):
        self.driver = driver
        self.account_sid = account_sid or (driver.account_sid if driver else "")
        self.requests: list[tuple[str, str, dict]] = []
        self.placed: list[SimulatedCall] = []
        # Called with each call the platform places (e.g. to answer it in a thread).
        self.on_placed: Callable[[SimulatedCall], None] | None = None
        self._lock = threading.Lock()
        self._counter = itertools.count(1)

    def handle(self, method: str, path: str, data: dict[str, str]) -> tuple[int, dict]:
        with self._lock:
            self.requests.append((method, path, dict(data)))
        prefix = f"/2010-04-01/Accounts/{self.account_sid}/Calls"
        if method != "POST" or not path.startswith(prefix):
            return 404, {"code": 20404, "message": "not found", "status": 404}
        rest = path[len(prefix) :]
        if rest == ".json":
            return self._create(data)
        sid = rest.strip("/").removesuffix(".json")
        call = self.driver.calls.get(sid) if self.driver else None
        if call is None:
            return 404, {"code": 20404, "message": f"call {sid} not found", "status": 404}
        if data.get("Url"):
            call.redirect(data["Url"])
        if data.get("Status") == "completed":
            call.hang_up(by="platform")
        return 200, {"sid": sid, "status": "in-progress", "account_sid": self.account_sid}

    def _create(self, data: dict[str, str]) -> tuple[int, dict]:
        for name in ("To", "From", "Url"):
            if not data.get(name):
                return 400, {"code": 21205, "message": f"{name} is required", "status": 400}
        sid = new_call_sid()
        if self.driver is not None:
            placed = self.driver.outbound(
                to=data["To"],
                from_=data["From"],
                url=data["Url"],
                sid=sid,
                status_callback=data.get("StatusCallback", ""),
            )
            self.placed.append(placed)
            if self.on_placed is not None:
                self.on_placed(placed)
        return 201, {
            "sid": sid,
            "status": "queued",
            "to": data["To"],
            "from": data["From"],
            "account_sid": self.account_sid,
        }


class StandInHttpClient(HttpClient):
    """A `twilio.http.HttpClient` answering from a TwilioStandIn, in-process."""

    def __init__(self, stand_in: TwilioStandIn):
        super().__init__(logger=logging.getLogger(__name__), is_async=False)
        self.stand_in = stand_in

    def request(
        self,
        method,
        uri,
        params=None,
        data=None,
        headers=None,
        auth=None,
        timeout=None,
        allow_redirects=False,
    ):
        path = urllib.parse.urlsplit(uri).path
        flat = {k: (v if isinstance(v, str) else str(v)) for k, v in (data or {}).items()}
        status, body = self.stand_in.handle(method.upper(), path, flat)
        return TwilioResponse(status, json.dumps(body))


def serve_stand_in(stand_in: TwilioStandIn, *, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Serve the stand-in on loopback; returns the server (shut it down) and its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server interface
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            data = {k: v[-1] for k, v in urllib.parse.parse_qs(raw).items()}
            status, body = stand_in.handle("POST", urllib.parse.urlsplit(self.path).path, data)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, name="twilio-stand-in", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
