"""Turn an experiment into one row per strategy: effectiveness, significance against the best,
stand-alone cost at each batch size (Wisznia et al., 2025), predicted time (per-call fits, and the
token-based time cost model's estimated GPU-seconds and latency), and actual spend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rankpipe.compare.costmodel import CallTimeModel, StandaloneCost, standalone_cost
from rankpipe.compare.experiment import Experiment, Trial
from rankpipe.compare.timecost import TimeCostModel, TimeEstimate
from rankpipe.evaluation.significance import paired_t_tests
from rankpipe.forms import FORMS
from rankpipe.judges.telemetry import CALL_KINDS, CallKind

SIGNIFICANCE = 0.05
REQUESTS = {frozenset(): "none"} | {frozenset({f.name}): f.style for f in FORMS.values()}
"""The forms a strategy asked -> its requests column (any two forms together: "mixed")."""


@dataclass(frozen=True)
class Spend:
    """What a strategy's run actually cost in the comparison (its shared-cache hits are free)."""

    inferences: int
    judge_calls: int
    prompt_tokens: int
    completion_tokens: int
    wall_s: float
    judge_s: float
    """Seconds inside the judge, measured call by call."""
    predicted_judge_s: float | None
    """The same, as the per-call time model predicts it."""


@dataclass(frozen=True)
class Row:
    label: str
    strategy: str
    orders: str
    """"both" or "one", as `Reranker(orders=)`."""
    requests: str
    """What the strategy asks: pairwise, listwise, mixed, or none."""
    metrics: dict[str, float]
    p_vs_best: dict[str, float]
    """Metric -> Holm-corrected p of the paired t-test against the best (absent for the best)."""
    cost: StandaloneCost
    predicted_s: dict[int, float] | None
    """Batch size -> predicted stand-alone seconds per query (None when no time model applies)."""
    spend: Spend
    time: dict[int, TimeEstimate] | None = None
    """Batch size -> estimated stand-alone GPU-seconds and latency per query under the summary's
    `cost_model` (None without one)."""

    def differs_from_best(self, metric: str) -> bool:
        """Significantly different from the best row (on the primary metric, that is worse)."""
        return self.p_vs_best.get(metric, 1.0) < SIGNIFICANCE


@dataclass(frozen=True)
class Summary:
    rows: list[Row]
    best: str
    """Label of the row with the best primary metric."""
    primary: str
    batch_sizes: tuple[int, ...]
    time_models: dict[CallKind, CallTimeModel]
    first_stage: dict[str, float]
    cost_model: TimeCostModel | None = None
    """The time cost model of the rows' `time` estimates: the one asked for, else `fitted`."""
    fitted: TimeCostModel | None = None
    """The time cost model fitted on this comparison's judge calls (None when none was made)."""

    def row(self, label: str) -> Row:
        return next(r for r in self.rows if r.label == label)

    def total_spend(self) -> Spend:
        spends = [r.spend for r in self.rows]
        predicted = [s.predicted_judge_s for s in spends]
        return Spend(
            inferences=sum(s.inferences for s in spends),
            judge_calls=sum(s.judge_calls for s in spends),
            prompt_tokens=sum(s.prompt_tokens for s in spends),
            completion_tokens=sum(s.completion_tokens for s in spends),
            wall_s=sum(s.wall_s for s in spends),
            judge_s=sum(s.judge_s for s in spends),
            predicted_judge_s=None if None in predicted else sum(p or 0.0 for p in predicted),
        )

    def cheapest(
        self, batch_size: int, cached: bool = True, as_good_as_best: bool = False
    ) -> Row | None:
        """The pairwise row with the fewest LLM calls per query at `batch_size` (ties: better
        primary metric first); optionally only rows not significantly worse than the best on the
        primary metric. Listwise rows are left out: a block is a larger prompt than a pair."""
        rows = [r for r in self.rows if r.requests == "pairwise" and r.cost.distinct_prompts > 0]
        if as_good_as_best:
            rows = [r for r in rows if not r.differs_from_best(self.primary)]
        calls = (
            (lambda r: r.cost.calls[batch_size])
            if cached
            else (lambda r: r.cost.calls_without_cache[batch_size])
        )
        return min(rows, key=lambda r: (calls(r), -r.metrics[self.primary]), default=None)


def summarize(
    experiment: Experiment, batch_sizes: Sequence[int], cost_model: TimeCostModel | None = None
) -> Summary:
    """The rows; time estimates under `cost_model`, else under the model fitted on this
    comparison's calls."""
    primary = experiment.metrics[0]
    fitted = TimeCostModel.fit(
        experiment.samples,
        f"fitted on {experiment.judge}",
        "measured calls of this comparison",
    )
    chosen = cost_model if cost_model is not None else fitted
    models = {
        kind: model
        for kind in CALL_KINDS
        if (
            model := CallTimeModel.fit(
                [(c.prompts, c.seconds) for c in experiment.calls if c.kind == kind]
            )
        )
    }
    labels = [t.configuration.label for t in experiment.trials]
    best = max(experiment.trials, key=lambda t: t.evaluation.aggregate[primary]).configuration.label
    tests = paired_t_tests(
        {t.configuration.label: t.evaluation.per_query for t in experiment.trials},
        best,
        list(experiment.metrics),
    )
    p_values: dict[str, dict[str, float]] = {label: {} for label in labels}
    for test in tests:
        p_values[test.system][test.metric] = test.p_holm
    rows = [
        _row(t, p_values[t.configuration.label], batch_sizes, models, chosen)
        for t in experiment.trials
    ]
    return Summary(
        rows,
        best,
        primary,
        tuple(batch_sizes),
        models,
        experiment.first_stage.aggregate,
        chosen,
        fitted,
    )


def _row(
    trial: Trial,
    p_vs_best: dict[str, float],
    batch_sizes: Sequence[int],
    models: dict[CallKind, CallTimeModel],
    cost_model: TimeCostModel | None,
) -> Row:
    kind = next(iter(trial.kinds)) if len(trial.kinds) == 1 else None
    model = models.get(kind) if kind is not None else None
    if not trial.kinds:
        predicted: dict[int, float] | None = dict.fromkeys(batch_sizes, 0.0)
    else:
        predicted = {b: model.mean_seconds(trial.ledger, b) for b in batch_sizes} if model else None
    total = trial.ledger.total()
    spend = Spend(
        inferences=int(total["inferences"]),
        judge_calls=int(total["judge_calls"]),
        prompt_tokens=int(total["prompt_tokens"]),
        completion_tokens=int(total["completion_tokens"]),
        wall_s=float(total["wall_s"]),
        judge_s=sum(c.seconds for c in trial.calls),
        predicted_judge_s=_predicted_calls(trial, models),
    )
    configuration = trial.configuration
    return Row(
        configuration.label,
        configuration.spec,
        configuration.orders,
        REQUESTS.get(frozenset(trial.kinds), "mixed"),
        trial.evaluation.aggregate,
        p_vs_best,
        standalone_cost(trial.ledger, batch_sizes),
        predicted,
        spend,
        {b: cost_model.mean_seconds(trial.ledger, b) for b in batch_sizes} if cost_model else None,
    )


def _predicted_calls(trial: Trial, models: dict[CallKind, CallTimeModel]) -> float | None:
    if any(c.kind not in models for c in trial.calls):
        return None
    return sum(models[c.kind].call_seconds(c.prompts) for c in trial.calls)
