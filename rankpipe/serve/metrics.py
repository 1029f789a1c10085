"""Prometheus metrics of one server (prometheus_client, in a registry of its own, so several apps
in one process keep theirs apart): requests by endpoint and status, what the judge did for them
(comparisons, inferences, cache hits, tokens), queries per executor wave (the batching across
requests), requests waiting or in flight in the scheduler, and a latency histogram."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from rankpipe.cost import QueryCost
from rankpipe.extras import require

require("prometheus_client", "serve", "the metrics of rankpipe serve")  # one line naming it
from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120, 300)
WAVE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ServeMetrics:
    """The server's counters; `render()` gives the text Prometheus scrapes."""

    def __init__(self, depth: Callable[[], int]) -> None:
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "rankpipe_requests", "rerank requests answered", ["endpoint", "status"],
            registry=registry,
        )  # fmt: skip
        self.comparisons = Counter(
            "rankpipe_comparisons", "comparisons the strategies asked", registry=registry
        )
        self.judgments = Counter(
            "rankpipe_judgments", "prompts the judge ran (inferences)", registry=registry
        )
        self.cache_hits = Counter(
            "rankpipe_cache_hits", "prompts answered from the cache", registry=registry
        )
        self.tokens = Counter(
            "rankpipe_tokens", "tokens of the prompts run and answers", ["kind"], registry=registry
        )
        self.judge_failures = Counter(
            "rankpipe_judge_failures", "requests failed by the judge (503)", registry=registry
        )
        self.wave_queries = Histogram(
            "rankpipe_wave_queries",
            "queries in each executor wave: the requests one round of judge calls served together",
            buckets=WAVE_BUCKETS, registry=registry,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "rankpipe_queue_depth", "queries waiting or in flight in the scheduler",
            registry=registry,
        )  # fmt: skip
        self.queue_depth.set_function(lambda: float(depth()))
        self.in_flight = Gauge(
            "rankpipe_requests_in_flight", "rerank requests being served", registry=registry
        )
        self.latency = Histogram(
            "rankpipe_request_seconds", "time to answer a rerank request", ["endpoint"],
            buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip

    def on_wave(self, queries: int, finished: int) -> None:
        """The scheduler's callback after each wave (called from its thread)."""
        self.wave_queries.observe(queries)

    def served(self, cost: QueryCost) -> None:
        self.comparisons.inc(cost.comparisons)
        self.judgments.inc(cost.inferences)
        self.cache_hits.inc(cost.cache_hits)
        self.tokens.labels("prompt").inc(cost.prompt_tokens)
        self.tokens.labels("completion").inc(cost.completion_tokens)

    def instrument(self, app: Any, paths: Collection[str]) -> Callable[..., Awaitable[None]]:
        """`app` wrapped (ASGI) to count the requests to `paths` by status and time them, whatever
        answers them: the endpoint, a validation error or the body limit."""

        async def instrumented(scope: Any, receive: Any, send: Any) -> None:
            path = scope.get("path") if scope["type"] == "http" else None
            if path not in paths:
                await app(scope, receive, send)
                return
            started, status = time.perf_counter(), 500

            async def sending(message: Any) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            self.in_flight.inc()
            try:
                await app(scope, receive, sending)
            finally:
                self.in_flight.dec()
                self.requests.labels(path, str(status)).inc()
                self.latency.labels(path).observe(time.perf_counter() - started)

        return instrumented

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
