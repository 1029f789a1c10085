"""Judges: pairwise (`Judge`) and listwise (`ListJudge`) backends chosen by spec strings."""

from rankpipe.judges.base import BlockJudgment, BlockPrompt, Judge, Judgment, ListJudge, PairPrompt
from rankpipe.judges.spec import make_judge, make_list_judge, parse_spec

__all__ = [
    "BlockJudgment",
    "BlockPrompt",
    "Judge",
    "Judgment",
    "ListJudge",
    "PairPrompt",
    "make_judge",
    "make_list_judge",
    "parse_spec",
]
