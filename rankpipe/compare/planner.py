"""Pick the strategy to run under a budget, from what `rankpipe compare` wrote.

A budget caps one stand-alone cost per query (mean over the compared queries): LLM calls at a batch
size (recomputed from each strategy's ledger with the cost model, so any batch size works),
distinct prompts, sequential rounds, or, from the ledgers' tokens, estimated GPU-seconds or latency
at a batch size under a time cost model (the comparison's, or one named with `--cost-model`).
Among the compared strategies that fit, the plan recommends the one with the best primary metric
(nDCG@10 by default), the cheaper one on a tie."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rankpipe.compare.costmodel import mean_calls
from rankpipe.compare.report import FORMAT_VERSION, RESULTS_FILE
from rankpipe.compare.timecost import TimeCostModel
from rankpipe.cost import CostLedger
from rankpipe.errors import InputError

BudgetKind = Literal["calls", "prompts", "rounds", "seconds", "latency"]
UNITS = {
    "calls": "LLM calls",
    "prompts": "distinct prompts",
    "rounds": "rounds",
    "seconds": "estimated GPU-seconds",
    "latency": "estimated seconds of latency",
}
TIMED = ("seconds", "latency")


@dataclass(frozen=True)
class Budget:
    kind: BudgetKind
    limit: float
    batch_size: int
    """Prompts per LLM call: what `calls` are counted at (and shown for every budget)."""

    def describe(self) -> str:
        at = f" at batch size {self.batch_size}" if self.kind in ("calls", *TIMED) else ""
        return f"{self.limit:g} {UNITS[self.kind]} per query{at}"


@dataclass(frozen=True)
class Option:
    label: str
    strategy: str
    orders: str
    requests: str
    """pairwise, listwise (a call ranks a block: a larger prompt), mixed, or none."""
    value: float
    """The primary metric."""
    p_vs_best: float | None
    calls: float
    prompts: float
    rounds: float
    gpu_s: float | None = None
    """Estimated stand-alone GPU-seconds per query (None without a time cost model)."""
    latency_s: float | None = None

    def cost(self, kind: BudgetKind) -> float:
        costs = {
            "calls": self.calls,
            "prompts": self.prompts,
            "rounds": self.rounds,
            "seconds": self.gpu_s,
            "latency": self.latency_s,
        }
        value = costs[kind]
        assert value is not None, f"no {kind} estimate without a time cost model"
        return value


@dataclass(frozen=True)
class SavedComparison:
    """A compare run read back: its settings and one Option per configuration at a batch size."""

    folder: Path
    record: dict[str, Any]
    ledgers: dict[str, CostLedger]

    @property
    def primary(self) -> str:
        return str(self.record["primary"])

    def cost_model(self, override: TimeCostModel | None = None) -> TimeCostModel | None:
        """`override`, else the time cost model the comparison's estimates used (None when it
        had none)."""
        if override is not None:
            return override
        record = self.record.get("cost_model")
        return TimeCostModel.from_dict(record, str(self.folder / RESULTS_FILE)) if record else None

    def options(self, batch_size: int, model: TimeCostModel | None = None) -> list[Option]:
        """One option per compared configuration, its costs at `batch_size` (estimated seconds
        under `model` when given)."""
        options = []
        for entry in self.record["configurations"]:
            standalone = entry["standalone"]
            ledger = self.ledgers[entry["label"]]
            time = model.mean_seconds(ledger, batch_size) if model is not None else None
            options.append(
                Option(
                    entry["label"],
                    entry["strategy"],
                    "both" if entry["both_orders"] else "one",
                    str(entry["requests"]),
                    float(entry["metrics"][self.primary]),
                    entry["p_vs_best"].get(self.primary),
                    mean_calls(ledger, batch_size),
                    float(standalone["distinct_prompts"]),
                    float(standalone["rounds"]),
                    time.gpu_s if time else None,
                    time.latency_s if time else None,
                )
            )
        return options

    def command(self, option: Option, batch_size: int) -> str:
        """The `rankpipe rerank` command that runs `option` on the compared candidates."""
        words = [
            "rankpipe",
            "rerank",
            *self.record["source"],
            "--judge",
            self.record["judge"],
            "--strategy",
            option.strategy,
            "--top-k",
            str(self.record["top_k"]),
            "--batch-size",
            str(batch_size),
        ]
        if option.orders != "both":
            words += ["--orders", "one"]
        return shlex.join([*words, "--output", "reranked.trec"])


@dataclass(frozen=True)
class Plan:
    budget: Budget
    model: TimeCostModel | None
    """The time cost model of the options' estimated seconds."""
    recommended: Option
    fitting: list[Option]
    """Every option within the budget, best first."""
    command: str


def load_comparison(folder: str | Path) -> SavedComparison:
    """Read `compare.json` and the cost ledgers it names; InputError when the folder holds none."""
    folder = Path(folder)
    path = folder / RESULTS_FILE
    if not path.is_file():
        raise InputError(
            f"{folder} holds no comparison results ({RESULTS_FILE} not found); "
            f"run `rankpipe compare ... --out {folder}` first"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("format") != FORMAT_VERSION:
            raise InputError(
                f"{path}: format {record.get('format')!r} is not {FORMAT_VERSION}; "
                "rerun rankpipe compare"
            )
        ledgers = {
            e["label"]: CostLedger.read(folder / e["cost"]) for e in record["configurations"]
        }
        comparison = SavedComparison(folder, record, ledgers)
        comparison.options(1)  # every field a plan reads is there
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise InputError(
            f"{path}: not a readable comparison ({type(error).__name__}: {error}); "
            "rerun rankpipe compare"
        ) from None
    if not record["configurations"]:
        raise InputError(f"{path} holds no compared strategies")
    return comparison


def make_plan(
    comparison: SavedComparison, budget: Budget, model: TimeCostModel | None = None
) -> Plan:
    """The best option within `budget`; InputError naming the cheapest option when none fits, or
    when a budget in seconds has no time cost model (neither `model` nor the comparison's)."""
    model = comparison.cost_model(model)
    if budget.kind in TIMED and model is None:
        raise InputError(
            f"{comparison.folder}: the comparison has no time cost model for a budget in seconds; "
            "give --cost-model SHAPE@DEVICE or a timecost.json"
        )
    options = comparison.options(budget.batch_size, model)
    fitting = sorted(
        (o for o in options if o.cost(budget.kind) <= budget.limit),
        key=lambda o: (-o.value, o.cost(budget.kind)),
    )
    if not fitting:
        cheapest = min(options, key=lambda o: (o.cost(budget.kind), -o.value))
        raise InputError(
            f"no compared strategy fits {budget.describe()}; the cheapest is {cheapest.label} "
            f"with {cheapest.cost(budget.kind):.3g} {UNITS[budget.kind]} per query "
            f"({comparison.primary} {cheapest.value:.4f})"
        )
    return Plan(
        budget, model, fitting[0], fitting, comparison.command(fitting[0], budget.batch_size)
    )
