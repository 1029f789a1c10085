"""Paired significance tests of runs against a baseline, Holm-corrected."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PairedTest:
    metric: str
    baseline: str
    system: str
    mean_difference: float
    p_value: float
    p_holm: float
    queries: int


def paired_t_tests(
    per_query: Mapping[str, Mapping[str, Mapping[str, float]]],
    baseline: str,
    metrics: Sequence[str],
) -> list[PairedTest]:
    """Two-sided paired t-test of every other system against `baseline`, per metric, over the
    queries both were evaluated on; p-values Holm-corrected within each metric.

    `per_query` maps system name -> qid -> metric -> value."""
    from scipy import stats  # imported here: it takes a second, and most commands never test

    results: list[PairedTest] = []
    others = [name for name in per_query if name != baseline]
    for metric in metrics:
        raw = []
        for system in others:
            qids = [q for q in per_query[baseline] if q in per_query[system]]
            a = [per_query[baseline][q][metric] for q in qids]
            b = [per_query[system][q][metric] for q in qids]
            diff = [y - x for x, y in zip(a, b, strict=True)]
            if len(qids) < 2 or all(d == diff[0] for d in diff):
                p = 1.0 if all(d == 0 for d in diff) else 0.0 if len(qids) >= 2 else math.nan
            else:
                p = float(stats.ttest_rel(b, a).pvalue)
            raw.append((system, sum(diff) / len(diff) if diff else math.nan, p, len(qids)))
        for (system, delta, p, n), corrected in zip(raw, holm([r[2] for r in raw]), strict=True):
            results.append(PairedTest(metric, baseline, system, delta, p, corrected, n))
    return results


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order (NaN stays NaN)."""
    order = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    m = len(order)
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted
