"""The bounds a server sets at start, and the checks that turn a request past them into a 4xx with
a JSON error naming the field: the body's size (413, before it is read whole), documents per
request and characters per document (413), blank texts, `top_n` past its bound and strategies the
server does not allow (422)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from rankpipe.serve.api import RerankRequest

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ApiError(Exception):
    """A request the server refuses: its HTTP status, the field at fault and why."""

    def __init__(self, status: int, field: str | None, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message
        self.kind = kind or ("too_large" if status == 413 else "invalid_request")

    def body(self) -> dict[str, Any]:
        return {"error": {"type": self.kind, "message": self.message, "field": self.field}}


@dataclass(frozen=True)
class Limits:
    max_documents: int = 100
    max_chars: int = 20_000
    """characters per document (and in the query)"""
    max_body_bytes: int = 4_000_000
    max_top_n: int = 100
    strategies: tuple[str, ...] = field(default_factory=tuple)
    """the strategy specs a request may name in `rankpipe.strategy` (the server's own included)"""

    def __post_init__(self) -> None:
        for name in ("max_documents", "max_chars", "max_body_bytes", "max_top_n"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


def check_request(request: RerankRequest, limits: Limits) -> None:
    """Raise ApiError for the first bound `request` breaks."""
    if not request.query.strip():
        raise ApiError(422, "query", "query: must not be blank")
    if len(request.query) > limits.max_chars:
        raise ApiError(
            413, "query", f"query: at most {limits.max_chars} characters, got {len(request.query)}"
        )
    n = len(request.documents)
    if n > limits.max_documents:
        raise ApiError(
            413, "documents", f"documents: at most {limits.max_documents} per request, got {n}"
        )
    for i, document in enumerate(request.documents):
        if not document.text.strip():
            raise ApiError(422, f"documents[{i}]", f"documents[{i}]: must not be blank")
        if len(document.text) > limits.max_chars:
            raise ApiError(
                413,
                f"documents[{i}]",
                f"documents[{i}]: at most {limits.max_chars} characters, got {len(document.text)}",
            )
    if request.top_n is not None and request.top_n > limits.max_top_n:
        raise ApiError(422, "top_n", f"top_n: at most {limits.max_top_n}, got {request.top_n}")
    strategy = request.rankpipe.strategy if request.rankpipe else None
    if strategy is not None and strategy not in limits.strategies:
        raise ApiError(
            422,
            "rankpipe.strategy",
            f"rankpipe.strategy: {strategy!r} is not served here; "
            f"one of {', '.join(map(repr, limits.strategies))}",
        )


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` is answered 413 (by its Content-Length at
    once, else as soon as the bytes read pass it) and never reaches the app; a body within it is
    read whole, then handed on, and later `receive` calls (a client's disconnect) pass through."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"").decode("latin-1").strip()
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client left before sending it all
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                await self._refuse(send)
                return
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse(self, send: Send) -> None:
        error = ApiError(413, "body", f"body: at most {self.max_bytes} bytes")
        payload = json.dumps(error.body()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the whole body once, then the client's own messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
