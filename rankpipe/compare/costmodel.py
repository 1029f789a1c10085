"""The inference cost model of Wisznia et al. (2025), "Are Optimal Algorithms Still Optimal?
Rethinking Sorting in LLM-Based Pairwise Ranking with Batching and Caching".

A strategy runs as rounds of independent prompts. At batch size b a round of m prompts costs
ceil(m / b) LLM calls, the inferences that count once prompts are batched. With a cache, m is the
number of distinct prompts new to the run (`round_prompts` in the cost ledger); without one, every
prompt asked, repeats included (`round_asked`). A run is costed in the orders it was made with: both
orders ask two prompts per comparison.

Time: a call of b prompts is taken to last a + c*b seconds (a fixed overhead plus a per-prompt
cost), fitted by non-negative least squares on the calls actually made; a round of m prompts then
lasts a*ceil(m/b) + c*m seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rankpipe.cost import CostLedger, QueryCost


def llm_calls(round_prompts: Sequence[int], batch_size: int) -> int:
    """LLM calls of rounds holding these numbers of prompts, at `batch_size` prompts per call."""
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    return sum(math.ceil(m / batch_size) for m in round_prompts)


def mean_calls(ledger: CostLedger, batch_size: int, cached: bool = True) -> float:
    """LLM calls per query (mean over queries) at `batch_size`, with or without a cache."""
    return _mean_per_query(
        ledger, lambda c: llm_calls(c.round_prompts if cached else c.round_asked, batch_size)
    )


def _mean_per_query(ledger: CostLedger, of: Callable[[QueryCost], float]) -> float:
    """The mean over the ledger's queries of a per-query quantity (0 without queries)."""
    costs = ledger.per_query.values()
    return sum(of(c) for c in costs) / len(costs) if costs else 0.0


@dataclass(frozen=True)
class CallTimeModel:
    """Seconds per judge call: overhead_s + per_prompt_s * (prompts in the call)."""

    overhead_s: float
    per_prompt_s: float
    calls: int
    """Calls the model was fitted on."""
    sizes: int
    """Distinct call sizes among them; with one, the slope cannot be told from the overhead: 0."""
    r_squared: float | None
    """Share of the variance of call times explained (None when every call took the same time)."""

    @classmethod
    def fit(cls, samples: Sequence[tuple[int, float]]) -> CallTimeModel | None:
        """Fit on (prompts, seconds) pairs; None without samples. Non-negative least squares:
        when the unconstrained line has a negative coefficient, the better of the two lines with
        that coefficient at 0 (through the origin, or flat) is taken."""
        if not samples:
            return None
        xs = [float(b) for b, _ in samples]
        ts = [t for _, t in samples]
        n = len(samples)
        mean_x, mean_t = sum(xs) / n, sum(ts) / n
        sxx = sum((x - mean_x) ** 2 for x in xs)
        sizes = len(set(xs))
        candidates = [(mean_t, 0.0)]
        if sxx > 0:
            slope = sum((x - mean_x) * (t - mean_t) for x, t in zip(xs, ts, strict=True)) / sxx
            candidates.append((mean_t - slope * mean_x, slope))
            candidates.append(
                (0.0, sum(x * t for x, t in zip(xs, ts, strict=True)) / sum(x * x for x in xs))
            )
        feasible = [(a, c) for a, c in candidates if a >= 0 and c >= 0]

        def sse(line: tuple[float, float]) -> float:
            return sum((t - line[0] - line[1] * x) ** 2 for x, t in zip(xs, ts, strict=True))

        a, c = min(feasible, key=sse)
        sst = sum((t - mean_t) ** 2 for t in ts)
        r_squared = 1.0 - sse((a, c)) / sst if sst > 0 else None
        return cls(a, c, n, sizes, r_squared)

    def call_seconds(self, prompts: int) -> float:
        return self.overhead_s + self.per_prompt_s * prompts

    def seconds(self, round_prompts: Sequence[int], batch_size: int) -> float:
        """Predicted seconds to run these rounds at `batch_size`, one call after another."""
        return self.overhead_s * llm_calls(round_prompts, batch_size) + self.per_prompt_s * sum(
            round_prompts
        )

    def mean_seconds(self, ledger: CostLedger, batch_size: int) -> float:
        """Predicted stand-alone seconds per query (mean), with a cache, at `batch_size`."""
        return _mean_per_query(ledger, lambda c: self.seconds(c.round_prompts, batch_size))

    def describe(self) -> str:
        fit = f", R² {self.r_squared:.3f}" if self.r_squared is not None else ""
        slope = (
            ""
            if self.sizes > 1
            else "; one call size seen, so the per-prompt term is unknown and set to 0"
        )
        return (
            f"t = {self.overhead_s:.4g} s + {self.per_prompt_s:.4g} s × prompts per call "
            f"(fitted on {_plural(self.calls, 'call')} of {_plural(self.sizes, 'size')}"
            f"{fit}{slope})"
        )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@dataclass(frozen=True)
class StandaloneCost:
    """What one strategy costs per query (means over queries) had it run alone on an empty cache."""

    queries: int
    comparisons: float
    prompts: float
    """Prompts asked, repeats included (comparisons x orders)."""
    distinct_prompts: float
    """Prompts a cache leaves to run: the LLM calls at batch size 1."""
    rounds: float
    prompt_tokens: float
    completion_tokens: float
    calls: dict[int, float]
    """Batch size -> LLM calls with a cache."""
    calls_without_cache: dict[int, float]
    """Batch size -> LLM calls when every prompt asked is run."""


def standalone_cost(ledger: CostLedger, batch_sizes: Sequence[int]) -> StandaloneCost:
    mean = ledger.mean_per_query()
    return StandaloneCost(
        queries=len(ledger.per_query),
        comparisons=mean["comparisons"],
        prompts=mean["prompts"],
        distinct_prompts=mean["standalone_inferences"],
        rounds=mean["rounds"],
        prompt_tokens=mean["standalone_prompt_tokens"],
        completion_tokens=mean["standalone_completion_tokens"],
        calls={b: mean_calls(ledger, b) for b in batch_sizes},
        calls_without_cache={b: mean_calls(ledger, b, cached=False) for b in batch_sizes},
    )
