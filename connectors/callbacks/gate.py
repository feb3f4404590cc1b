"""What a callback request passes before the API sees it: token, kind, rate, and a timely body.

``Gate`` is a plain ASGI middleware in front of the callback routes: it answers 401 (no or wrong
token), 403 (a caller posting a kind it is not given), 429 (over its rate), 408 (the body did
not arrive in time) and 413 (too big) without reading more than it must. ``HeaderTimeoutH11`` is
uvicorn's HTTP/1.1 protocol with a deadline for a request's headers, which uvicorn lacks: a
client that trickles headers (slowloris) is disconnected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import orjson
from prometheus_client import Counter
from uvicorn.protocols.http.h11_impl import H11Protocol

from connectors.callbacks.auth import Authenticator, RateLimiter

log = logging.getLogger(__name__)

REFUSED = Counter(
    "smartsync_callbacks_refused",
    "Callback requests refused before validation, by sync and reason "
    "(unauthenticated, forbidden, rate_limited, body_timeout, too_large)",
    ["sync", "reason"],
)

ANONYMOUS = "anonymous"
Scope = dict[str, Any]


class Gate:
    """Authentication, kind, rate and body checks for the paths in ``routes`` (path → sync)."""

    def __init__(
        self,
        app: Any,
        *,
        routes: Mapping[str, str],
        authenticator: Authenticator | None,
        limiter: RateLimiter,
        body_timeout_s: float,
        max_body_bytes: int,
    ) -> None:
        self.app = app
        self.routes = routes
        self.authenticator = authenticator
        self.limiter = limiter
        self.body_timeout_s = body_timeout_s
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        sync = self.routes.get(scope.get("path", "")) if scope["type"] == "http" else None
        if sync is None:
            await self.app(scope, receive, send)
            return
        caller = ANONYMOUS
        if self.authenticator is not None:
            found = self.authenticator.identify(_header(scope, b"authorization"))
            if found is None:
                await _refuse(send, sync, 401, "unauthenticated", "a valid bearer token is required")
                return
            if not found.may_post(sync):
                await _refuse(send, sync, 403, "forbidden", f"caller {found.name!r} may not post {sync} callbacks")
                return
            caller = found.name
        wait = self.limiter.take(caller)
        if wait:
            retry = str(max(1, round(wait)))
            await _refuse(send, sync, 429, "rate_limited", "too many callbacks; slow down", {"retry-after": retry})
            return
        try:
            body = await asyncio.wait_for(_read_body(receive, self.max_body_bytes), timeout=self.body_timeout_s)
        except TimeoutError:
            await _refuse(send, sync, 408, "body_timeout", f"the body did not arrive within {self.body_timeout_s:g}s")
            return
        except _TooLargeError:
            await _refuse(send, sync, 413, "too_large", f"the body exceeds {self.max_body_bytes} bytes")
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, _replay(body, receive), send)


class _TooLargeError(Exception):
    pass


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _read_body(receive: Any, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLargeError
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    delivered = False

    async def replay() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        message: dict[str, Any] = await receive()  # after the body: wait for the disconnect, as the server would
        return message

    return replay


async def _refuse(  # noqa: PLR0917 — one call shape for every refusal
    send: Any, sync: str, status: int, reason: str, detail: str, headers: Mapping[str, str] | None = None
) -> None:
    REFUSED.labels(sync, reason).inc()
    extra = dict(headers or {})
    if status == 401:
        extra["www-authenticate"] = "Bearer"
    body = orjson.dumps({"detail": detail})
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.encode(), v.encode()) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class HeaderTimeoutH11(H11Protocol):
    """uvicorn's h11 protocol; a connection whose next request's headers are not in within the deadline is closed."""

    header_timeout_s = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def _arm(self) -> None:
        waiting_after = self.cycle
        handle = getattr(self, "_header_deadline", None)
        if handle is not None:
            handle.cancel()

        def expire() -> None:
            # No new request cycle began since arming: the headers never completed.
            if self.cycle is waiting_after and not self.transport.is_closing():
                log.info("closing a connection whose request headers took over %ss", self.header_timeout_s)
                self.transport.close()

        self._header_deadline = self.loop.call_later(self.header_timeout_s, expire)

    def connection_lost(self, exc: Exception | None) -> None:
        handle = getattr(self, "_header_deadline", None)
        if handle is not None:
            handle.cancel()
        super().connection_lost(exc)


def header_timeout_protocol(seconds: float) -> type[HeaderTimeoutH11]:
    """The protocol class uvicorn should use (``http=``), with this deadline."""
    return type("HeaderTimeoutH11", (HeaderTimeoutH11,), {"header_timeout_s": seconds})
