"""Run several strategies over the same candidates and one shared judgment cache.

A prompt paid for by one strategy is never paid again by another: each later strategy finds it in
the cache. Each strategy's stand-alone cost stays exact all the same, because the executor's ledger
counts the distinct prompts a run needs whatever answered them (`standalone_inferences`,
`round_prompts`); what the comparison actually spent is the inferences and judge calls it ran.
With one order, a strategy is never answered from the reverse prompt another strategy left in the
cache, so every strategy sees exactly the answers it would see alone.

Every judge call is also recorded with its tokens (`Experiment.samples`): the input of the time
cost model fitted on this judge (rankpipe/compare/timecost.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rankpipe.cache import Cache, MemoryCache
from rankpipe.compare.timecost import CallSample
from rankpipe.cost import CostLedger
from rankpipe.data.types import Qrels, QueryCandidates, Run, run_from_candidates
from rankpipe.evaluation.metrics import DEFAULT_METRICS, Evaluation, evaluate
from rankpipe.executor import Executor, Orders, asks_both
from rankpipe.forms import FORMS, FormName, judge_of
from rankpipe.judges.base import (
    Judge,
)
from rankpipe.judges.telemetry import CallRecord, Timed
from rankpipe.strategies.base import Strategy
from rankpipe.strategies.registry import make_strategy


@dataclass(frozen=True)
class Configuration:
    """A strategy (a spec such as `sparse:sampler=random,budget=4`, or an object) and its orders."""

    strategy: str | Strategy
    orders: Orders = "both"

    def __post_init__(self) -> None:
        asks_both(self.orders)

    @property
    def spec(self) -> str:
        return self.strategy if isinstance(self.strategy, str) else self.strategy.name

    @property
    def label(self) -> str:
        return self.spec if self.orders == "both" else f"{self.spec} (one order)"


@dataclass
class Trial:
    """One configuration's outcome: run, cost ledger, evaluation, and the judge calls it made."""

    configuration: Configuration
    run: Run
    ledger: CostLedger
    evaluation: Evaluation
    kinds: set[FormName]
    """What the strategy asked: pairwise prompts, listwise blocks, or neither (no requests)."""
    calls: list[CallRecord]
    """Judge calls this configuration made (those its prompts found in the cache are absent)."""


@dataclass
class Experiment:
    trials: list[Trial]
    first_stage: Evaluation
    judge: str
    """The judge's identity."""
    top_k: int
    batch_size: int
    """Prompts per judge call in the measured runs (batches span queries)."""
    metrics: tuple[str, ...]
    calls: list[CallRecord] = field(default_factory=list)
    """Every judge call of the comparison, of every form, in order."""

    @property
    def samples(self) -> list[CallSample]:
        """The calls with their tokens and decoding steps: the time cost model's input."""
        return [CallSample(c.prompts, c.prompt_tokens, c.steps, c.seconds) for c in self.calls]


def run_experiment(
    items: Sequence[QueryCandidates],
    qrels: Qrels,
    judge: Judge,
    configurations: Sequence[Configuration],
    top_k: int = 10,
    *,
    cache: Cache | None = None,
    batch_size: int = 32,
    metrics: Sequence[str] = DEFAULT_METRICS,
    progress: bool = False,
) -> Experiment:
    """Rerank `items` with every configuration in turn, all sharing `cache` (in memory if None)."""
    cache = cache if cache is not None else MemoryCache()
    qids = {item.query.qid for item in items}
    judged = {qid: labels for qid, labels in qrels.items() if qid in qids}
    log: list[CallRecord] = []
    forms = {
        name: Timed(form, judge_of(form, judge), log) if judge_of(form, judge) is not None else None
        for name, form in FORMS.items()
    }
    trials = []
    for configuration in configurations:
        strategy = configuration.strategy
        strategy = make_strategy(strategy) if isinstance(strategy, str) else strategy
        executor = Executor(
            forms["pair"],
            list_judge=forms["block"],
            set_judge=forms["set"],
            cache=cache,
            batch_size=batch_size,
            both_orders=asks_both(configuration.orders),
            progress=progress,
            reuse_reversed=False,
        )
        first_call = len(log)
        results = executor.run(items, strategy, top_k)
        trials.append(
            Trial(
                configuration,
                results.run,
                results.ledger,
                evaluate(results.run, judged, metrics),
                set().union(*(outcome.forms for outcome in results.values())),
                log[first_call:],
            )
        )
    first_stage = evaluate(run_from_candidates(items), judged, metrics)
    return Experiment(trials, first_stage, judge.identity, top_k, batch_size, tuple(metrics), log)
