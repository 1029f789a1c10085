"""`create_app(reranker, ...)`: the rerank service as a FastAPI (ASGI) app over a `Reranker`, to run
with uvicorn (`rankpipe serve`) or mount in an application of one's own.

    with Reranker("hf:HuggingFaceTB/SmolLM2-135M-Instruct", "heapsort", cache="judgments.db") as r:
        uvicorn.run(create_app(r), host="127.0.0.1", port=8000)

`POST /v1/rerank` and `/v2/rerank` take the Cohere/Jina/vLLM rerank request (rankpipe/serve/api.py);
each request is one query submitted to `Reranker.submit`, so requests in flight share the
executor's waves (each judge call holds prompts of all of them, up to the batch size) and leave as
soon as their own strategy finishes. `GET /health`, `GET /metrics` (Prometheus), `/docs`.

Errors are JSON, `{"error": {"type", "message", "field"}}`: 400 malformed JSON, 401 a missing or
wrong bearer key (when `api_key` is set; compared in constant time), 413 past a size bound, 422 a
request that does not validate, 503 the judge failed for this request (the others go on). A client
that disconnects has its query cancelled: it stops costing judgments. The app does not close the
Reranker: its owner does, after the server's graceful shutdown has drained the requests."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from typing import Any, Literal

from rankpipe import __version__
from rankpipe.errors import JudgeError
from rankpipe.executor import Outcome
from rankpipe.extras import require
from rankpipe.reranker import Reranker
from rankpipe.serve.api import (
    ErrorResponse,
    RerankRequest,
    RerankResponse,
    to_candidates,
    to_response,
)
from rankpipe.serve.limits import ApiError, BodyLimit, Limits, check_request
from rankpipe.serve.metrics import ServeMetrics
from rankpipe.strategies.base import Strategy
from rankpipe.strategies.registry import make_strategy

require("fastapi", "serve", "rankpipe serve")  # before it: one line naming the extra
from fastapi import Depends, FastAPI, Request  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import JSONResponse, Response  # noqa: E402
from starlette.exceptions import HTTPException  # noqa: E402

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in (
        (400, "malformed JSON"),
        (401, "missing or wrong bearer key"),
        (413, "body, documents or a text past the server's bounds"),
        (422, "the request does not validate (the field is named)"),
        (503, "the judge failed for this request"),
    )
}


RERANK_PATHS = ("/v1/rerank", "/v2/rerank")


class ClientGone(Exception):
    """The client disconnected before its ranking was ready."""


@dataclass
class Service:
    """What the endpoints share: the Reranker, the bounds, the strategies served, the metrics."""

    reranker: Reranker
    limits: Limits
    strategies: dict[str, Strategy]
    default_strategy: str
    metrics: ServeMetrics
    model: str
    gate: asyncio.Semaphore | None

    def strategy(self, request: RerankRequest) -> tuple[str, Strategy]:
        name = (request.rankpipe.strategy if request.rankpipe else None) or self.default_strategy
        return name, self.strategies[name]

    def submit(self, request: RerankRequest, strategy: Strategy, top_k: int) -> Future[Outcome]:
        future = self.reranker.submit(to_candidates(request), strategy, top_k)
        scheduler = self.reranker.scheduler
        if scheduler is not None and scheduler.on_wave is None:
            scheduler.on_wave = self.metrics.on_wave
        return future

    def depth(self) -> int:
        scheduler = self.reranker.scheduler
        return scheduler.depth if scheduler is not None else 0


def create_app(
    reranker: Reranker,
    *,
    max_documents: int | None = None,
    max_chars: int = 20_000,
    max_body_bytes: int = 4_000_000,
    api_key: str | None = None,
    strategies_allowed: Sequence[str] = (),
    max_top_n: int | None = None,
    max_concurrent: int | None = None,
    strategy_name: str | None = None,
    model_name: str = "rankpipe",
) -> FastAPI:
    """The rerank service over `reranker` (see the module). `max_documents` defaults to the
    Reranker's depth (and may not exceed it), `max_top_n` to `max_documents`;
    `strategies_allowed`: strategy specs a request may name in `rankpipe.strategy`, besides the
    Reranker's own (`strategy_name`, by default its name); `max_concurrent`: requests reranked at
    once (1: one at a time, no batching across requests; None: no bound); `api_key`: the bearer
    key every rerank and metrics request must carry."""
    depth = reranker.depth or 100
    max_documents = max_documents or depth
    if max_documents > depth:
        raise ValueError(f"max_documents ({max_documents}) exceeds the Reranker's depth ({depth})")
    default = strategy_name or reranker.strategy.name
    strategies = {spec: make_strategy(spec) for spec in strategies_allowed}
    strategies[default] = reranker.strategy
    limits = Limits(
        max_documents, max_chars, max_body_bytes, max_top_n or max_documents, tuple(strategies)
    )
    service = Service(
        reranker, limits, strategies, default, ServeMetrics(lambda: service.depth()), model_name,
        asyncio.Semaphore(max_concurrent) if max_concurrent else None,
    )  # fmt: skip
    app = FastAPI(
        title="rankpipe",
        version=__version__,
        description="Pairwise LLM reranking as a service: the Cohere/Jina/vLLM rerank API.",
    )
    app.state.service = service
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(_Instrumented, metrics=service.metrics)
    _add_error_handlers(app)
    _add_routes(app, service, _bearer(api_key))
    return app


class _Instrumented:
    """The metrics' request counter and latency, outermost (rankpipe/serve/metrics.py)."""

    def __init__(self, app: Any, metrics: ServeMetrics) -> None:
        self.call = metrics.instrument(app, RERANK_PATHS)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.call(scope, receive, send)


def _bearer(api_key: str | None) -> Callable[[Request], None]:
    """A dependency that refuses (401) a request without `Authorization: Bearer <api_key>`."""
    expected = f"Bearer {api_key}".encode() if api_key else None

    def check(request: Request) -> None:
        if expected is None:
            return
        given = request.headers.get("authorization", "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, expected):
            raise ApiError(401, "authorization", "a valid bearer key is needed", "unauthorized")

    return check


def _add_routes(app: FastAPI, service: Service, auth: Callable[[Request], None]) -> None:
    for version, path in zip(("1", "2"), RERANK_PATHS, strict=True):
        app.add_api_route(
            path,
            _rerank_endpoint(service, version),  # type: ignore[arg-type]
            methods=["POST"],
            response_model=RerankResponse,
            response_model_exclude_none=True,
            responses=ERRORS,
            dependencies=[Depends(auth)],
            summary=f"Rerank documents for a query (Cohere v{version} / Jina / vLLM shape)",
        )

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "model": service.model,
            "strategy": service.default_strategy,
            "strategies": list(service.strategies),
            "queue_depth": service.depth(),
        }

    @app.get("/metrics", dependencies=[Depends(auth)])
    def metrics() -> Response:
        body, content_type = service.metrics.render()
        return Response(body, media_type=content_type)


def _rerank_endpoint(
    service: Service, version: Literal["1", "2"]
) -> Callable[[RerankRequest, Request], Awaitable[RerankResponse]]:
    async def rerank(body: RerankRequest, request: Request) -> RerankResponse:
        check_request(body, service.limits)
        name, strategy = service.strategy(body)
        top_k = min(body.top_n or service.reranker.top_k, len(body.documents))
        watcher = asyncio.ensure_future(_disconnect(request))
        try:
            async with _turn(service.gate, watcher):
                outcome = await _ranked(service, body, strategy, top_k, watcher)
        finally:
            watcher.cancel()
        service.metrics.served(outcome.cost)
        return to_response(
            body, outcome, model=service.model, strategy=name, top_k=top_k, version=version
        )

    return rerank


@contextlib.asynccontextmanager
async def _turn(
    gate: asyncio.Semaphore | None, watcher: asyncio.Future[None]
) -> AsyncIterator[None]:
    """Hold the gate (with `max_concurrent`) while the request is reranked; a client that leaves
    while waiting for its turn leaves the queue."""
    if gate is None:
        yield
        return
    acquiring = asyncio.ensure_future(gate.acquire())
    await asyncio.wait({acquiring, watcher}, return_when=asyncio.FIRST_COMPLETED)
    if not acquiring.done():
        acquiring.cancel()
        raise ClientGone
    try:
        yield
    finally:
        gate.release()


async def _ranked(
    service: Service,
    body: RerankRequest,
    strategy: Strategy,
    top_k: int,
    watcher: asyncio.Future[None],
) -> Outcome:
    """The request's Outcome; a disconnect (`watcher` done) first cancels its query, so it stops
    costing judgments. A judge failure is a 503."""
    try:
        future = service.submit(body, strategy, top_k)
    except RuntimeError:  # the Reranker is closed: the server is shutting down
        raise ApiError(503, None, "the server is shutting down", "unavailable") from None
    waiter = asyncio.wrap_future(future)
    done, _ = await asyncio.wait({waiter, watcher}, return_when=asyncio.FIRST_COMPLETED)
    if waiter not in done:
        if service.reranker.scheduler is not None:
            service.reranker.scheduler.cancel(future)
        waiter.cancel()
        raise ClientGone
    try:
        return waiter.result()
    except JudgeError as error:
        service.metrics.judge_failures.inc()
        raise ApiError(503, None, f"the judge failed: {error}", "judge_failed") from None
    except CancelledError:
        raise ClientGone from None


async def _disconnect(request: Request) -> None:
    """Returns when the client disconnects (the body was read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return JSONResponse(error.body(), status_code=error.status, headers=headers)

    @app.exception_handler(ClientGone)
    async def client_gone(request: Request, error: ClientGone) -> Response:
        return Response(status_code=499)

    @app.exception_handler(Exception)
    async def internal(request: Request, error: Exception) -> JSONResponse:
        failure = ApiError(500, None, f"internal error: {type(error).__name__}", "internal")
        return await api_error(request, failure)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return await api_error(request, _validation_error(error.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return await api_error(request, ApiError(error.status_code, None, str(error.detail)))


def _validation_error(errors: Sequence[Any]) -> ApiError:
    """The first of pydantic's errors as an ApiError naming its field (`documents[2].text`)."""
    first = dict(errors[0]) if errors else {"loc": (), "msg": "invalid request", "type": ""}
    loc = [part for part in first.get("loc", ()) if part != "body"]
    field = ""
    for part in loc:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    if first.get("type") == "json_invalid":
        return ApiError(400, "body", f"body: malformed JSON ({first.get('ctx', {}).get('error')})")
    if not field:
        return ApiError(422, "body", f"body: {first.get('msg')}; expected a JSON object")
    if first.get("type") == "extra_forbidden":
        return ApiError(422, field, f"{field}: unknown field")
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return ApiError(422, field, f"{field}: {message}")
