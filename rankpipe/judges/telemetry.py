"""Judge telemetry: a decorator that records the form, size, duration and retries of every call to a
judge, and vLLM's own prefix-cache counters.

The decorator wraps a judge without changing its answers, identity or cache keys, so the executor
batches and caches through them as through the judge itself. The cost comparison fits its per-call
time model on what they record. A judge that retries requests (the `openai` backend) counts them
in a `retries` attribute, and each call's record carries how many it made.

`PrefixCacheStats` holds vLLM's prefix-cache counters (`vllm:prefix_cache_queries` and
`vllm:prefix_cache_hits`, in prompt tokens looked up and found cached), read from the in-process
engine's metrics (`LLM.get_metrics()`) or from a server's Prometheus `/metrics` page; the page is
read with one regular expression rather than a dependency on prometheus_client (only two counters
are wanted)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rankpipe.forms import FORMS, Form, FormName

CallKind = FormName
CALL_KINDS: tuple[CallKind, ...] = tuple(FORMS)


@dataclass(frozen=True)
class CallRecord:
    """One judge call: its request form, how many prompts it held, how long it took, how many
    retries it needed, its prompt tokens and its decoding steps (the longest answer less its first
    token: the time cost model's input)."""

    kind: CallKind
    prompts: int
    seconds: float
    retries: int = 0
    """Requests the judge retried during the call (servers that failed and were asked again)."""
    prompt_tokens: int = 0
    steps: int = 0


class Timed:
    """A judge of one request form (`rankpipe.forms`) that appends a CallRecord to `log` for every
    call; it has that form's method (`judge`, `rank` or `choose`) and no other, so the executor
    sees the same forms as in the judge itself."""

    def __init__(self, form: Form, judge: Any, log: list[CallRecord]) -> None:
        self.form, self.inner, self.log = form, judge, log
        setattr(self, form.method, self._call)

    @property
    def identity(self) -> str:
        return str(self.inner.identity)

    @property
    def reads_text(self) -> bool:
        return bool(self.inner.reads_text)

    def _call(self, prompts: Sequence[Any]) -> list[Any]:
        retries, started = self._retries(), time.perf_counter()
        answers = self.form.ask(self.inner, prompts)
        seconds = time.perf_counter() - started
        retried = self._retries() - retries
        tokens = sum(a.prompt_tokens for a in answers)
        steps = max(max((a.completion_tokens for a in answers), default=1) - 1, 0)
        self.log.append(CallRecord(self.form.name, len(prompts), seconds, retried, tokens, steps))
        return answers

    def _retries(self) -> int:
        return int(getattr(self.inner, "retries", 0))


PREFIX_CACHE_QUERIES = "vllm:prefix_cache_queries"
PREFIX_CACHE_HITS = "vllm:prefix_cache_hits"
_PROMETHEUS_SAMPLE = re.compile(
    r"^(vllm:prefix_cache_(?:queries|hits))(?:_total)?(?:\{[^}]*\})?\s+([0-9.eE+-]+)\s*$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class PrefixCacheStats:
    """vLLM's prefix-cache counters: prompt tokens looked up (`queries`) and found cached
    (`hits`), summed over engines. Counters only grow: subtract two readings for an interval."""

    queries: int = 0
    hits: int = 0

    @property
    def hit_rate(self) -> float:
        return self.hits / self.queries if self.queries else 0.0

    def __add__(self, other: PrefixCacheStats) -> PrefixCacheStats:
        return PrefixCacheStats(self.queries + other.queries, self.hits + other.hits)

    def __sub__(self, other: PrefixCacheStats) -> PrefixCacheStats:
        return PrefixCacheStats(self.queries - other.queries, self.hits - other.hits)


def prefix_cache_from_metrics(metrics: Iterable[Any]) -> PrefixCacheStats:
    """The counters among vLLM's in-process metrics (`LLM.get_metrics()`: objects with `name` and,
    for counters, `value`)."""
    totals = {PREFIX_CACHE_QUERIES: 0, PREFIX_CACHE_HITS: 0}
    for metric in metrics:
        if metric.name in totals:
            totals[metric.name] += int(metric.value)
    return PrefixCacheStats(totals[PREFIX_CACHE_QUERIES], totals[PREFIX_CACHE_HITS])


def prefix_cache_from_prometheus(text: str) -> PrefixCacheStats:
    """The counters on a vLLM server's `/metrics` page (Prometheus text format, `_total` suffix)."""
    totals = {PREFIX_CACHE_QUERIES: 0.0, PREFIX_CACHE_HITS: 0.0}
    for name, value in _PROMETHEUS_SAMPLE.findall(text):
        totals[name] += float(value)
    return PrefixCacheStats(int(totals[PREFIX_CACHE_QUERIES]), int(totals[PREFIX_CACHE_HITS]))
