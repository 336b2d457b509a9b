"""A WebSub hub for the tests, on 127.0.0.1, following the W3C WebSub
recommendation (https://www.w3.org/TR/websub/): subscription requests are
form POSTs answered 202 Accepted, then the hub verifies the subscriber's
intent with a GET carrying a random challenge, which the subscriber must
echo; content is distributed as POSTs signed with `X-Hub-Signature`
(HMAC of the body with the subscriber's `hub.secret`)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Subscriber:
    callback: str
    topic: str
    secret: str | None
    lease: int
    verified_at: float


@dataclass
class Verification:
    mode: str
    callback: str
    topic: str
    status: int | None  # the subscriber's answer (None: no answer)
    confirmed: bool  # it echoed the challenge


@dataclass
class Hub:
    """Start with `Hub()`; `url` is its address; `close()` stops it."""

    grant_lease: int | None = None  # the lease granted (default: what was asked, at most a day)
    refuse: bool = False  # answer subscription requests 500
    deny: bool = False  # deny subscriptions (hub.mode=denied) instead of verifying them
    subscribers: dict[tuple[str, str], Subscriber] = field(default_factory=dict)  # (callback, topic)
    requests: list[dict[str, str]] = field(default_factory=list)
    verifications: list[Verification] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(length).decode()).items()}
                status = hub._request(form)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    # -- subscriptions ----------------------------------------------------------------------------------------

    def _request(self, form: dict[str, str]) -> int:
        with self.lock:
            self.requests.append(form)
        mode, callback, topic = form.get("hub.mode"), form.get("hub.callback"), form.get("hub.topic")
        if mode not in ("subscribe", "unsubscribe") or not callback or not topic:
            return 400
        if self.refuse:
            return 500
        # Verified after the answer, as the recommendation allows (asynchronously).
        threading.Thread(target=self._verify, args=(form,), daemon=True).start()
        return 202

    def _verify(self, form: dict[str, str]) -> None:
        time.sleep(0.05)
        mode, callback, topic = form["hub.mode"], form["hub.callback"], form["hub.topic"]
        if self.deny and mode == "subscribe":
            self._get(callback, {"hub.mode": "denied", "hub.topic": topic, "hub.reason": "not allowed here"})
            return
        asked = int(form.get("hub.lease_seconds") or 86400)
        lease = self.grant_lease if self.grant_lease is not None else min(asked, 86400)
        challenge = secrets.token_urlsafe(16)
        params = {"hub.mode": mode, "hub.topic": topic, "hub.challenge": challenge}
        if mode == "subscribe":
            params["hub.lease_seconds"] = str(lease)
        status, body = self._get(callback, params)
        confirmed = status is not None and 200 <= status < 300 and body == challenge
        with self.lock:
            self.verifications.append(Verification(mode, callback, topic, status, confirmed))
            if confirmed and mode == "subscribe":
                self.subscribers[(callback, topic)] = Subscriber(callback, topic, form.get("hub.secret"), lease,
                                                                 time.monotonic())
            elif confirmed:
                self.subscribers.pop((callback, topic), None)

    @staticmethod
    def _get(url: str, params: dict[str, str]) -> tuple[int | None, str]:
        try:
            with urllib.request.urlopen(url + "?" + urllib.parse.urlencode(params), timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")
        except OSError:
            return None, ""

    def subscribed(self, topic: str) -> list[Subscriber]:
        with self.lock:
            return [s for s in self.subscribers.values() if s.topic == topic]

    # -- distribution ----------------------------------------------------------------------------------------

    def publish(self, topic: str, body: bytes, content_type: str = "application/atom+xml",
                signature: str = "sha256") -> list[int]:
        """Deliver `body` to every subscriber of `topic`; the status each
        answered. `signature`: an algorithm (sha256, sha512, sha1), or
        "missing", or "wrong" (signed with another secret)."""
        statuses = []
        for sub in self.subscribed(topic):
            headers = {"Content-Type": content_type,
                       "Link": f'<{self.url}>; rel="hub", <{topic}>; rel="self"'}
            if signature != "missing":
                algorithm = "sha256" if signature == "wrong" else signature
                key = (sub.secret or "") if signature != "wrong" else "not-the-secret"
                digest = hmac.new(key.encode(), body, getattr(hashlib, algorithm)).hexdigest()
                headers["X-Hub-Signature"] = f"{algorithm}={digest}"
            request = urllib.request.Request(sub.callback, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=5) as r:
                    statuses.append(r.status)
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
        return statuses

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
