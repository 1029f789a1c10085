"""TREC metrics through ir-measures, per query and aggregated.

Measures are named as ir-measures spells them. The default set follows the TREC Deep Learning
passage convention: graded nDCG, and grade >= 2 counts as relevant for binary measures
(`RR(rel=2)@10`, `AP(rel=2)@100`, `R(rel=2)@100`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import ir_measures

from rankpipe.data.trec import read_qrels, read_run
from rankpipe.data.types import Qrels, Ranking, Run, run_as_dict
from rankpipe.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_METRICS = ("nDCG@10", "RR(rel=2)@10", "AP(rel=2)@100", "R(rel=2)@100")


@dataclass(frozen=True)
class Evaluation:
    """Aggregate (mean over the judged queries) and per-query values, keyed by metric name."""

    aggregate: dict[str, float]
    per_query: dict[str, dict[str, float]]
    unjudged_queries: tuple[str, ...] = field(default=())
    """Run queries with no qrels: not evaluated (as ir-measures does), reported here."""
    missing_queries: tuple[str, ...] = field(default=())
    """Judged queries the run lacks: scored 0 and averaged in (as ir-measures does), reported."""

    def to_pandas(self) -> pd.DataFrame:
        """One row per query (index `qid`) and a last row `all` with the aggregate; one column per
        metric."""
        import pandas as pd

        rows = {**self.per_query, "all": self.aggregate}
        frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(self.aggregate))
        return frame.rename_axis("qid")


def parse_metrics(names: Sequence[str]) -> list[ir_measures.Measure]:
    measures = []
    for name in names:
        try:
            measures.append(ir_measures.parse_measure(name))
        except (ValueError, NameError, SyntaxError, TypeError):
            raise InputError(
                f"unknown metric {name!r}: use ir-measures names such as nDCG@10 or AP(rel=2)"
            ) from None
    return measures


def evaluate(
    run: Run | Mapping[str, Ranking] | str | Path,
    qrels: Qrels | Mapping[str, Mapping[str, int]] | str | Path,
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> Evaluation:
    """Evaluate a run (file path or in-memory) against qrels (file path or in-memory).

    Raises InputError when no query of the run has qrels (there would be nothing to average: the
    wrong qrels file, or query ids spelt differently)."""
    run_name = f"run {run}" if isinstance(run, (str, Path)) else "the run"
    qrels_name = f"qrels {qrels}" if isinstance(qrels, (str, Path)) else "the qrels"
    run = read_run(run) if isinstance(run, (str, Path)) else run
    qrels = read_qrels(qrels) if isinstance(qrels, (str, Path)) else qrels
    if not run:
        raise InputError("the run is empty")
    measures = parse_metrics(metrics)
    judged = {qid: dict(labels) for qid, labels in qrels.items()}
    scored = {qid: scores for qid, scores in run_as_dict(run).items() if qid in judged}
    if not scored:
        raise InputError(
            f"none of the {len(run)} queries of {run_name} is in {qrels_name} "
            f"({len(judged)} queries): {_overlap_hint(run, judged)}"
        )
    missing = tuple(q for q in judged if q not in run)
    per_query: dict[str, dict[str, float]] = {qid: {} for qid in (*scored, *missing)}
    for metric in ir_measures.iter_calc(measures, judged, scored):
        per_query[metric.query_id][str(metric.measure)] = float(metric.value)
    names = [str(m) for m in measures]
    aggregate = {
        name: _mean([values[name] for values in per_query.values() if name in values])
        for name in names
    }
    return Evaluation(
        aggregate,
        per_query,
        unjudged_queries=tuple(q for q in run if q not in judged),
        missing_queries=missing,
    )


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _overlap_hint(run: Mapping[str, object], qrels: Mapping[str, object]) -> str:
    """A few query ids of each side, for a message about their mismatch."""

    def sample(ids: Mapping[str, object]) -> str:
        shown = ", ".join(list(ids)[:3])
        return f"{shown}, ..." if len(ids) > 3 else shown

    return f"run queries {sample(run)}; qrels queries {sample(qrels)}"
