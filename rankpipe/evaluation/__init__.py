"""Evaluation: TREC metrics through ir-measures and paired significance tests."""

from rankpipe.evaluation.metrics import DEFAULT_METRICS, Evaluation, evaluate
from rankpipe.evaluation.significance import PairedTest, holm, paired_t_tests

__all__ = ["DEFAULT_METRICS", "Evaluation", "PairedTest", "evaluate", "holm", "paired_t_tests"]
