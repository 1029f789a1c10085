"""Pick the strategy to run under a budget, from what `rankpipe compare` wrote.

A budget caps one stand-alone cost per query (mean over the compared queries): LLM calls at a batch
size (recomputed from each strategy's ledger with the cost model, so any batch size works), distinct
prompts, or sequential rounds. Among the compared strategies that fit, the plan recommends the one
with the best primary metric (nDCG@10 by default), the cheaper one on a tie."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rankpipe.compare.costmodel import mean_calls
from rankpipe.compare.report import FORMAT_VERSION, RESULTS_FILE
from rankpipe.cost import CostLedger
from rankpipe.errors import InputError

BudgetKind = Literal["calls", "prompts", "rounds"]
UNITS = {"calls": "LLM calls", "prompts": "distinct prompts", "rounds": "rounds"}


@dataclass(frozen=True)
class Budget:
    kind: BudgetKind
    limit: float
    batch_size: int
    """Prompts per LLM call: what `calls` are counted at (and shown for every budget)."""

    def describe(self) -> str:
        at = f" at batch size {self.batch_size}" if self.kind == "calls" else ""
        return f"{self.limit:g} {UNITS[self.kind]} per query{at}"


@dataclass(frozen=True)
class Option:
    label: str
    strategy: str
    both_orders: bool
    requests: str
    """pairwise, listwise (a call ranks a block: a larger prompt), mixed, or none."""
    value: float
    """The primary metric."""
    p_vs_best: float | None
    calls: float
    prompts: float
    rounds: float

    def cost(self, kind: BudgetKind) -> float:
        return {"calls": self.calls, "prompts": self.prompts, "rounds": self.rounds}[kind]


@dataclass(frozen=True)
class SavedComparison:
    """A compare run read back: its settings and one Option per configuration at a batch size."""

    folder: Path
    record: dict[str, Any]
    ledgers: dict[str, CostLedger]

    @property
    def primary(self) -> str:
        return str(self.record["primary"])

    def options(self, batch_size: int) -> list[Option]:
        options = []
        for entry in self.record["configurations"]:
            standalone = entry["standalone"]
            options.append(
                Option(
                    entry["label"],
                    entry["strategy"],
                    bool(entry["both_orders"]),
                    str(entry["requests"]),
                    float(entry["metrics"][self.primary]),
                    entry["p_vs_best"].get(self.primary),
                    mean_calls(self.ledgers[entry["label"]], batch_size),
                    float(standalone["distinct_prompts"]),
                    float(standalone["rounds"]),
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
        if not option.both_orders:
            words.append("--one-order")
        return shlex.join([*words, "--output", "reranked.trec"])


@dataclass(frozen=True)
class Plan:
    budget: Budget
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


def make_plan(comparison: SavedComparison, budget: Budget) -> Plan:
    """The best option within `budget`; InputError naming the cheapest option when none fits."""
    options = comparison.options(budget.batch_size)
    fitting = sorted(
        (o for o in options if o.cost(budget.kind) <= budget.limit),
        key=lambda o: (-o.value, o.cost(budget.kind)),
    )
    if not fitting:
        cheapest = min(options, key=lambda o: (o.cost(budget.kind), -o.value))
        raise InputError(
            f"no compared strategy fits {budget.describe()}; the cheapest is {cheapest.label} "
            f"with {cheapest.cost(budget.kind):.1f} {UNITS[budget.kind]} per query "
            f"({comparison.primary} {cheapest.value:.4f})"
        )
    return Plan(budget, fitting[0], fitting, comparison.command(fitting[0], budget.batch_size))
