"""`sim:grades=overlap`: the simulated judge graded by the texts instead of qrels, so that it judges
any documents (those sent to `rankpipe serve`, a demo without labels).

A passage's grade is the number of distinct query words (three letters or more, lower-cased) it
contains; everything else is the sim judge's (rankpipe/judges/simulated.py): the higher grade wins,
ties answer 0.5, `noise`, `bias`, `seed`, `latency` and the token counts work as there. Its noise
draws, like its cache keys, follow the query and passage identifiers, which `rankpipe serve` derives
from the texts. A crude lexical judge: it stands in for a model's cost, not its quality.

    sim:grades=overlap,latency=0.05,tokens=false
"""

from __future__ import annotations

import functools
import re

from rankpipe.data.types import Candidate, Query
from rankpipe.errors import InputError
from rankpipe.judges.simulated import SimulatedJudge
from rankpipe.judges.spec import JudgeSpec, float_option, int_option
from rankpipe.judges.token_counts import TokenCounter

GRADES = ("overlap",)
WORD = re.compile(r"\w{3,}")


@functools.lru_cache(maxsize=65536)
def words(text: str) -> frozenset[str]:
    """The distinct words of three letters or more, lower-cased."""
    return frozenset(WORD.findall(text.lower()))


class OverlapJudge(SimulatedJudge):
    """The simulated judge with grades read from the texts: query words a passage contains."""

    def __init__(
        self,
        noise: float = 0.0,
        bias: float = 0.0,
        seed: int = 0,
        latency: float = 0.0,
        tokens: TokenCounter | None = None,
    ) -> None:
        super().__init__({}, noise=noise, bias=bias, seed=seed, latency=latency, tokens=tokens)
        self.identity = f"sim:grades=overlap,noise={noise},bias={bias},seed={seed}"

    def grade_of(self, query: Query, passage: Candidate) -> int:
        return len(words(query.text) & words(passage.text))


def build_overlap(spec: JudgeSpec, tokens: TokenCounter | None) -> OverlapJudge:
    """The judge of a `sim:grades=...` spec (the sim judge's options, less qrels)."""
    grades = spec.options["grades"]
    if grades not in GRADES:
        raise InputError(f"judge {spec}: grades must be one of {', '.join(GRADES)}, got {grades!r}")
    if "qrels" in spec.options:
        raise InputError(f"judge {spec}: grades={grades} reads the texts; it takes no qrels")
    return OverlapJudge(
        noise=float_option(spec, "noise", 0.0),
        bias=float_option(spec, "bias", 0.0),
        seed=int_option(spec, "seed", 0),
        latency=float_option(spec, "latency", 0.0),
        tokens=tokens,
    )
