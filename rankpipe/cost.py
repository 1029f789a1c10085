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
| prompt_tokens, completion_tokens | tokens of the inferences run |
| invalid_answers | model answers that were neither A nor B (scored 0.5) or permutations repaired |
| wall_s | seconds; per query, the duration of the waves it took part in; in `total`, the run |

`round_prompts` (per query) lists, round by round, the distinct prompts new to the run: the input of
the batch-size cost model. `round_asked` lists the prompts asked round by round, repeats included:
the same model's input for an implementation without a cache. `standalone_prompt_tokens` and
`standalone_completion_tokens` are the tokens of the distinct prompts the run needed, wherever their
answers came from (what the run would have spent on an empty cache).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from rankpipe.atomic import atomic_write

SUMMED = (
    "comparisons", "unique_comparisons", "prompts", "cache_hits", "inferences",
    "standalone_inferences", "judge_calls", "prompt_tokens", "completion_tokens",
    "invalid_answers", "wall_s", "standalone_prompt_tokens", "standalone_completion_tokens",
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
