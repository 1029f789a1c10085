"""The cost ledger: what a run asked for, what it actually ran, and how long it took.

Counts per query, and in total:

| field | meaning |
|---|---|
| comparisons | requests the strategy asked (pairwise comparisons or blocks), repeats included |
| unique_comparisons | distinct requests (a pair counts once whatever its order) |
| prompts | prompt lookups: comparisons x orders (2 with both orders), repeats included |
| cache_hits | prompt lookups answered without the model (from the cache or earlier in the run) |
| inferences | prompts the model actually ran (both orders count two) |
| standalone_inferences | distinct prompts the run needed: its inferences from an empty cache |
| judge_calls | batches sent to the judge (in `per_query`, batches holding one of its prompts) |
| rounds | sequential rounds (latency depth); in `total` the maximum over queries |
| prompt_tokens, completion_tokens | tokens of the inferences run (sim: of the prompts it mimics) |
| prefix_reused_tokens | prompt tokens a judge reused from a cached shared prefix (not computed) |
| invalid_answers | model answers that were neither A nor B (scored 0.5) or permutations repaired |
| wall_s | seconds; per query, the duration of the waves it took part in; in `total`, the run |

`round_prompts` (per query) lists, round by round, the distinct prompts new to the run: the input of
the batch-size cost model. `round_asked` lists the prompts asked round by round, repeats included:
the same model's input for an implementation without a cache. `standalone_prompt_tokens` and
`standalone_completion_tokens` are the tokens of the distinct prompts the run needed, wherever their
answers came from (what the run would have spent on an empty cache); `round_prompt_tokens` and
`round_completion_tokens` split them by round, as `round_prompts` splits the prompts (the input of
the time cost model, rankpipe/compare/timecost.py; empty in ledgers written before they existed),
and `round_reused_tokens` how many of each round's prompt tokens the judge took from a shared prefix
computed earlier (the `hf` judge's prefix reuse; 0 for judges without it).
Tokens sent are `prompt_tokens`; tokens computed are `prompt_tokens - prefix_reused_tokens`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rankpipe.atomic import atomic_write

if TYPE_CHECKING:
    import pandas as pd

SUMMED = (
    "comparisons",
    "unique_comparisons",
    "prompts",
    "cache_hits",
    "inferences",
    "standalone_inferences",
    "judge_calls",
    "prompt_tokens",
    "completion_tokens",
    "invalid_answers",
    "wall_s",
    "standalone_prompt_tokens",
    "standalone_completion_tokens",
    "prefix_reused_tokens",
)


@dataclass
class QueryCost:
    comparisons: int = 0
    unique_comparisons: int = 0
    prompts: int = 0
    cache_hits: int = 0
    inferences: int = 0
    standalone_inferences: int = 0
    judge_calls: int = 0
    rounds: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    invalid_answers: int = 0
    wall_s: float = 0.0
    round_prompts: list[int] = field(default_factory=list)
    round_asked: list[int] = field(default_factory=list)
    standalone_prompt_tokens: int = 0
    standalone_completion_tokens: int = 0
    prefix_reused_tokens: int = 0
    round_prompt_tokens: list[int] = field(default_factory=list)
    round_completion_tokens: list[int] = field(default_factory=list)
    round_reused_tokens: list[int] = field(default_factory=list)

    def add_inference(self, judgment: TokenUsage) -> None:
        """Charge one inference the model ran: its tokens, and the prompt tokens it reused."""
        self.inferences += 1
        self.prompt_tokens += judgment.prompt_tokens
        self.completion_tokens += judgment.completion_tokens
        self.prefix_reused_tokens += judgment.prefix_reused_tokens

    def add_standalone_round(self, judgments: Iterable[TokenUsage]) -> None:
        """Charge the tokens of one round's prompts new to the run, whatever answered them: to the
        stand-alone totals and as the round's entries of round_prompt_tokens,
        round_completion_tokens and round_reused_tokens."""
        prompt = completion = reused = 0
        for judgment in judgments:
            prompt += judgment.prompt_tokens
            completion += judgment.completion_tokens
            reused += judgment.prefix_reused_tokens
        self.standalone_prompt_tokens += prompt
        self.standalone_completion_tokens += completion
        self.round_prompt_tokens.append(prompt)
        self.round_completion_tokens.append(completion)
        self.round_reused_tokens.append(reused)


class TokenUsage(Protocol):
    """What the ledger reads from a judgment (pairwise, listwise or setwise): its tokens, and the
    prompt tokens the judge took from a cached shared prefix instead of computing them
    (`prefix_reused_tokens`: 0 but for prefix-reusing judges)."""

    @property
    def prompt_tokens(self) -> int: ...

    @property
    def completion_tokens(self) -> int: ...

    @property
    def prefix_reused_tokens(self) -> int: ...


@dataclass
class CostTotals(QueryCost):
    """A run's totals as typed attributes (`ledger.totals.inferences`): `CostLedger.total()`'s
    record, each count summed over queries; `rounds` the maximum, `judge_calls` and `wall_s` the
    run's; the per-round lists stay empty."""


@dataclass
class CostLedger:
    per_query: dict[str, QueryCost] = field(default_factory=dict)
    judge_calls: int = 0
    """Batches actually sent to the judge by the whole run (cross-query batches count once)."""
    wall_s: float = 0.0

    def query(self, qid: str) -> QueryCost:
        return self.per_query.setdefault(qid, QueryCost())

    def total(self) -> dict[str, float]:
        sums: dict[str, float] = {
            name: sum(getattr(c, name) for c in self.per_query.values()) for name in SUMMED
        }
        sums["judge_calls"] = self.judge_calls
        sums["wall_s"] = round(self.wall_s, 3)
        sums["rounds"] = max((c.rounds for c in self.per_query.values()), default=0)
        return sums

    @property
    def totals(self) -> CostTotals:
        record = self.total()
        counts: dict[str, Any] = {
            f.name: record[f.name] for f in fields(QueryCost) if f.name in record
        }
        return CostTotals(**counts)

    def to_pandas(self) -> pd.DataFrame:
        """One row per query (index `qid`), one column per count; the per-round lists left out."""
        import pandas as pd

        rows = {
            qid: {k: v for k, v in asdict(cost).items() if not k.startswith("round_")}
            for qid, cost in self.per_query.items()
        }
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("qid")

    def mean_per_query(self) -> dict[str, float]:
        n = max(len(self.per_query), 1)
        names = [f.name for f in fields(QueryCost) if not f.name.startswith("round_")]
        return {name: sum(getattr(c, name) for c in self.per_query.values()) / n for name in names}

    def to_dict(self) -> dict[str, object]:
        per_query = {}
        for qid, cost in self.per_query.items():
            record = asdict(cost)
            record["wall_s"] = round(record["wall_s"], 4)
            per_query[qid] = record
        return {
            "total": self.total(),
            "mean_per_query": self.mean_per_query(),
            "per_query": per_query,
        }

    def write(self, path: str | Path) -> None:
        with atomic_write(path) as out:
            json.dump(self.to_dict(), out, indent=1)
            out.write("\n")

    @classmethod
    def read(cls, path: str | Path) -> CostLedger:
        record = json.loads(Path(path).read_text())
        ledger = cls(
            judge_calls=int(record["total"]["judge_calls"]), wall_s=float(record["total"]["wall_s"])
        )
        for qid, cost in record["per_query"].items():
            ledger.per_query[qid] = QueryCost(**cost)
        return ledger
