"""The dev split: how good the student is on held-out training queries, and the selection of the
best checkpoint (step 0, the untrained student, included).

Measures, each over the dev queries' candidates (mined like the training queries), averaged over
queries:

- `agreement` (no labels): the share of the teacher's judged pairs (p != 0.5) the student orders
  as the teacher did (a tie in the student's scores counts half);
- `teacher_ndcg` (no labels): nDCG@10 of the student's order, the teacher's ranking taken as
  graded labels (its rank r, 0-based, gets 10 - r; below its top 10, 0);
- `ndcg10` (qrels): nDCG@10 of the student's order of the candidates against the relevance labels
  (gain = label, the ideal from all the query's labels).

The selection measure is `ndcg10` when qrels are given, else `agreement`. The best evaluated step
(the highest mean; a tie keeps the earlier) is kept only when it beats step 0 (the student as the
round began) by more than `margin` standard errors of their per-query difference on the dev
queries; else step 0 is kept. This is the one-standard-error rule (Breiman et al. 1984; Hastie,
Tibshirani and Friedman, The Elements of Statistical Learning, 7.10) between the best step and the
simplest choice, training nothing: at DL19's scale a dev split has 6-9 queries, and a best step
chosen among ten evaluations on them is often better there by chance only (eval/results/
distill.md: with margin 0, one fold in five lost 0.0115 nDCG@10 on its held-out queries). Margin 0
keeps any best step with a higher mean.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rankpipe.data.types import Qrels
from rankpipe.distill.dataset import pairs_of
from rankpipe.errors import InputError

MEASURES = ("agreement", "teacher_ndcg", "ndcg10")


@dataclass(frozen=True)
class DevScore:
    """The student on the dev queries at one evaluation."""

    step: int
    agreement: float
    teacher_ndcg: float
    ndcg10: float | None = None
    round: int = 0
    per_query: dict[str, float] = field(default_factory=dict, compare=False)
    """The selection measure by dev query (queries where it is undefined left out)."""

    def value(self, measure: str) -> float:
        value = getattr(self, measure)
        if value is None:
            raise InputError(f"select_by={measure!r} needs qrels for the dev queries")
        return float(value)

    def describe(self) -> str:
        labels = f", nDCG@10 {self.ndcg10:.4f}" if self.ndcg10 is not None else ""
        return f"agreement {self.agreement:.4f}, teacher nDCG@10 {self.teacher_ndcg:.4f}{labels}"


@dataclass(frozen=True)
class DevQuery:
    qid: str
    query: str
    docids: tuple[str, ...]
    passages: tuple[str, ...]
    pairs: tuple[tuple[int, int, float], ...]
    teacher_scores: tuple[float, ...]


@dataclass(frozen=True)
class DevSet:
    queries: tuple[DevQuery, ...]
    qrels: Qrels | None = None
    measure: str = "agreement"

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]], qrels: Qrels | None = None) -> DevSet:
        """The dev set of training-set rows (see dataset.py); `ndcg10` selects when qrels cover
        them."""
        queries = tuple(
            DevQuery(
                row["qid"],
                row["query"],
                tuple(row["docids"]),
                tuple(row["passages"]),
                tuple(pairs_of(row)),
                tuple(row["teacher_scores"]),
            )
            for row in rows
        )
        judged = {q.qid: qrels[q.qid] for q in queries if qrels and q.qid in qrels}
        return cls(queries, judged or None, "ndcg10" if judged else "agreement")


def split_dev(
    qids: Sequence[str], fraction: float, chosen: Iterable[str] | None = None, seed: int = 0
) -> set[str]:
    """The dev queries: `chosen` (those among `qids`), else round(fraction x n) drawn with `seed`,
    at least one when fraction > 0 and at least two queries remain to train on (none otherwise)."""
    if not 0 <= fraction < 1:
        raise InputError(f"dev_fraction must lie in [0, 1), got {fraction}")
    if chosen is not None:
        wanted = set(chosen)
        dev = {q for q in qids if q in wanted}
        if not dev:
            raise InputError("dev_queries: none of them is among the training queries")
        if len(dev) == len(set(qids)):
            raise InputError("dev_queries: every training query is a dev query; none left to train")
        return dev
    n = len(qids)
    size = max(1, round(fraction * n)) if fraction > 0 and n >= 3 else 0
    return set(random.Random(seed).sample(sorted(qids), size))


def dcg(gains: Sequence[float], k: int = 10) -> float:
    return sum(g / math.log2(rank + 2) for rank, g in enumerate(gains[:k]))


def ndcg(
    order: Sequence[int], gains: Sequence[float], ideal: Sequence[float], k: int = 10
) -> float:
    """nDCG@k of `order` (positions) under `gains` (per position), against the `ideal` gains."""
    best = dcg(sorted(ideal, reverse=True), k)
    return dcg([gains[i] for i in order], k) / best if best > 0 else 0.0


def agreement(scores: Sequence[float], pairs: Sequence[tuple[int, int, float]]) -> float | None:
    """Share of the decided pairs (p != 0.5) the scores order as the teacher did (ties count half);
    None when no pair is decided."""
    decided = [(i, j, p) for i, j, p in pairs if p != 0.5]
    if not decided:
        return None
    agree = 0.0
    for i, j, p in decided:
        margin = (scores[i] - scores[j]) * (1 if p > 0.5 else -1)
        agree += 1.0 if margin > 0 else 0.5 if margin == 0 else 0.0
    return agree / len(decided)


def teacher_gains(teacher_scores: Sequence[float], k: int = 10) -> list[float]:
    """The teacher's ranking as graded labels: rank r (0-based, ties by position) -> k - r."""
    order = sorted(range(len(teacher_scores)), key=lambda i: (-teacher_scores[i], i))
    gains = [0.0] * len(teacher_scores)
    for rank, position in enumerate(order[:k]):
        gains[position] = float(k - rank)
    return gains


def score_query(query: DevQuery, scores: Sequence[float], qrels: Qrels | None) -> dict[str, float]:
    """One dev query's measures for the student's scores of its candidates."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    gains = teacher_gains(query.teacher_scores)
    measures = {"teacher_ndcg": ndcg(order, gains, gains)}
    agreed = agreement(scores, query.pairs)
    if agreed is not None:
        measures["agreement"] = agreed
    if qrels is not None and query.qid in qrels:
        labels = qrels[query.qid]
        measures["ndcg10"] = ndcg(
            order,
            [float(labels.get(d, 0)) for d in query.docids],
            list(map(float, labels.values())),
        )
    return measures


def score_student(model: Any, dev: DevSet, step: int = 0, round: int = 0) -> DevScore:
    """The dev measures of a SentenceTransformer (cosine of query and passage embeddings), with the
    dev set's selection measure per query."""
    import torch

    texts = sorted({p for q in dev.queries for p in q.passages})
    was_training = model.training
    with torch.no_grad():
        passages = model.encode(
            texts, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=False
        )
        queries = model.encode(
            [q.query for q in dev.queries],
            convert_to_tensor=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
    model.train(was_training)
    where = {text: i for i, text in enumerate(texts)}
    per_query: dict[str, dict[str, float]] = {}
    for query, vector in zip(dev.queries, queries, strict=True):
        scores = (passages[[where[p] for p in query.passages]] @ vector).tolist()
        per_query[query.qid] = score_query(query, scores, dev.qrels)

    def mean(name: str) -> float | None:
        values = [m[name] for m in per_query.values() if name in m]
        return sum(values) / len(values) if values else None

    chosen = dev.measure
    return DevScore(
        step,
        mean("agreement") or 0.0,
        mean("teacher_ndcg") or 0.0,
        mean("ndcg10"),
        round,
        {qid: m[chosen] for qid, m in per_query.items() if chosen in m},
    )


def clearly_better(new: DevScore, old: DevScore, measure: str, margin: float) -> bool:
    """Whether `new` beats `old` on the dev queries by more than `margin` standard errors of the
    per-query difference (margin 0: any higher mean). Fewer than two queries scored by both give
    no standard error: then only margin 0 lets `new` win. With margin 1, a gain on one query alone
    (the others unchanged) is not enough: its t statistic is exactly 1."""
    gain = new.value(measure) - old.value(measure)
    if gain <= 0 or margin <= 0:
        return gain > 0
    diffs = [new.per_query[q] - old.per_query[q] for q in new.per_query if q in old.per_query]
    if len(diffs) < 2:
        return False
    # One query better and the rest unchanged is exactly one standard error (t = 1) in exact
    # arithmetic; the tolerance keeps float rounding from deciding that case either way.
    return gain > margin * statistics.stdev(diffs) / math.sqrt(len(diffs)) * (1 + 1e-9)


class Selection:
    """Evaluates the student on the dev set and keeps (a copy of) the best weights seen and of step
    0's; `restore` loads the best when it is clearly better than step 0 (`margin`), else step 0."""

    def __init__(self, model: Any, dev: DevSet, round: int = 0, margin: float = 1.0) -> None:
        self.model, self.dev, self.round, self.margin = model, dev, round, margin
        self.scores: list[DevScore] = []
        self.best: DevScore | None = None
        self.best_state: dict[str, Any] = {}
        self.first_state: dict[str, Any] = {}

    def evaluate(self, step: int) -> DevScore:
        if self.scores and self.scores[-1].step == step:
            return self.scores[-1]
        score = score_student(self.model, self.dev, step, self.round)
        self.scores.append(score)
        measure = self.dev.measure
        if self.best is None or score.value(measure) > self.best.value(measure):
            self.best = score
            self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            if len(self.scores) == 1:
                self.first_state = self.best_state
        return score

    def restore(self) -> DevScore:
        """Load the kept weights into the model (the best, or step 0's when the best is not
        clearly better); their score."""
        assert self.best is not None
        if clearly_better(self.best, self.scores[0], self.dev.measure, self.margin):
            self.model.load_state_dict(self.best_state)
            return self.best
        self.model.load_state_dict(self.first_state)
        return self.scores[0]


def selection_callback(selection: Selection, every: int) -> Any:
    """A trainer callback that evaluates `selection` every `every` steps and at the end."""
    from transformers import TrainerCallback

    class SelectCallback(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.global_step % every == 0 or state.global_step >= state.max_steps:
                selection.evaluate(state.global_step)

    return SelectCallback()
