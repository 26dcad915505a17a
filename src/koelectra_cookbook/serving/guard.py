"""What every request passes before the application sees it (an ASGI middleware): the API key, the limit on
requests in flight (429), the body's size (413) and the time its bytes may take to arrive (408), then one access-log
line and the response counted by status. A refusal here costs no parsing and no model time."""

from __future__ import annotations

import asyncio
import hmac
import json
import sys
import time

from koelectra_cookbook.serving.metrics import Metrics
from koelectra_cookbook.serving.settings import ServerSettings

OPEN_PATHS = {"/health"}  # a load balancer's health check carries no key

async def respond(send, status: int, message: str, error_type: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": message, "error_type": error_type}, ensure_ascii=False).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})

class Guard:
    def __init__(self, app, settings: ServerSettings, metrics: Metrics, api_key: str | None):
        self.app, self.settings, self.metrics = app, settings, metrics
        self.api_key = None if api_key is None else api_key.encode()
        self.in_flight = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":  # lifespan
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [500]

        async def send_and_note(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.admit(scope, receive, send_and_note)
        finally:
            seconds = time.perf_counter() - started
            route = scope["path"] if scope["path"] in ("/", "/predict", "/health", "/info", "/metrics") else "other"
            self.metrics.request.labels(route).observe(seconds)
            self.metrics.responses.labels(str(status[0])).inc()
            if self.settings.log_requests:
                client = scope.get("client") or ("-", 0)
                # the path as sent can hold anything: shown escaped, cut short, on one line
                path = scope["path"].encode("unicode_escape").decode("ascii")[:200]
                print(f'{client[0]}:{client[1]} "{scope["method"]} {path}" {status[0]} {seconds * 1000:.1f} ms',
                      file=sys.stderr, flush=True)

    async def admit(self, scope, receive, send):
        if self.api_key is not None and scope["path"] not in OPEN_PATHS and not self.authorized(scope):
            return await respond(send, 401, "a valid API key is needed: send 'Authorization: Bearer KEY'",
                                 "unauthorized", {"WWW-Authenticate": "Bearer"})
        if scope["method"] != "POST":
            return await self.app(scope, receive, send)
        if self.in_flight >= self.settings.max_concurrent_requests:
            return await respond(send, 429, f"{self.in_flight} requests in flight, the most this server takes "
                                            "(--max-concurrent-requests); retry later", "overloaded",
                                 {"Retry-After": "1"})
        self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            body = await self.read_body(scope, receive, send)
            if body is None:
                return
            replayed = [False]

            async def receive_body():
                if not replayed[0]:
                    replayed[0] = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()  # after the body: the client's disconnect, if it goes

            await self.app(scope, receive_body, send)
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.dec()

    def authorized(self, scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, key = value.partition(b" ")
                # compare_digest takes the same time wherever the two keys differ
                return scheme.lower() == b"bearer" and hmac.compare_digest(key.strip(), self.api_key)
        return False

    async def read_body(self, scope, receive, send) -> bytes | None:
        """The whole body, or None once a refusal is sent: over the size limit (413, told by Content-Length
        before a byte is read where it is given) or arriving slower than the request's time limit (408)."""
        limit = self.settings.payload_limit
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                await respond(send, 413, f"the body is over {limit} bytes (--payload-limit)", "payload_too_large")
                return None
        chunks, size = [], 0
        deadline = time.monotonic() + self.settings.request_timeout_s
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0))
            except TimeoutError:
                await respond(send, 408, f"the body did not arrive within {self.settings.request_timeout_s:g} s",
                              "timeout", {"Connection": "close"})
                return None
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await respond(send, 413, f"the body is over {limit} bytes (--payload-limit)", "payload_too_large",
                              {"Connection": "close"})
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
