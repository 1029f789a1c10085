"""Plain data: queries, candidates, rankings and runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Qrels = dict[str, dict[str, int]]
"""qid -> docid -> graded relevance label."""


@dataclass(frozen=True)
class Query:
    qid: str
    text: str


@dataclass(frozen=True)
class Candidate:
    """A passage retrieved for a query by a first stage: its text, score and 1-based rank."""

    docid: str
    text: str
    score: float = 0.0
    rank: int = 0


@dataclass(frozen=True)
class QueryCandidates:
    """One query with its first-stage candidates, best first: the input of a reranker."""

    query: Query
    candidates: tuple[Candidate, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for c in self.candidates:
            if c.docid in seen:
                raise ValueError(f"query {self.query.qid}: docid {c.docid} appears twice")
            seen.add(c.docid)

    def truncated(self, depth: int) -> QueryCandidates:
        return QueryCandidates(self.query, self.candidates[:depth])


@dataclass(frozen=True)
class Ranking:
    """An ordered list of (docid, score) for one query, best first."""

    qid: str
    docids: tuple[str, ...]
    scores: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.scores:
            n = len(self.docids)
            object.__setattr__(self, "scores", tuple(float(n - i) for i in range(n)))
        if len(self.scores) != len(self.docids):
            raise ValueError(
                f"query {self.qid}: {len(self.docids)} docids but {len(self.scores)} scores"
            )

    @classmethod
    def from_order(cls, qid: str, docids: Iterable[str]) -> Ranking:
        """A ranking whose scores fall strictly with rank (n, n-1, ..., 1), as reranked runs are
        written."""
        return cls(qid, tuple(docids))

    def __len__(self) -> int:
        return len(self.docids)


Run = dict[str, Ranking]
"""qid -> Ranking. Keys keep the order queries were read in."""


def run_from_candidates(items: Iterable[QueryCandidates]) -> Run:
    """The first-stage run that a list of candidate sets encodes (their own scores)."""
    return {
        qc.query.qid: Ranking(
            qc.query.qid,
            tuple(c.docid for c in qc.candidates),
            tuple(c.score for c in qc.candidates),
        )
        for qc in items
    }


def run_as_dict(run: Mapping[str, Ranking]) -> dict[str, dict[str, float]]:
    """qid -> docid -> score, the shape ir-measures and pytrec_eval take."""
    return {qid: dict(zip(r.docids, r.scores, strict=True)) for qid, r in run.items()}
