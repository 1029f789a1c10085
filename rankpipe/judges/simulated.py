"""A simulated judge driven by relevance labels, for cost studies and tests.

Pairwise: it prefers the passage with the higher grade (unjudged = 0) and answers 0.5 on equal
grades; it flips a preference with probability `noise`, and with probability `bias` answers "A"
(the passage shown first) whatever the grades. Listwise: a block is sorted by grade (ties keep the
shown order), then each adjacent pair is swapped with probability `noise`, in one pass from the top.
Setwise: the members of the best grade share the probability; with probability `noise` a random
member of a lower grade is picked instead, with probability `bias` the first shown.
Every random draw is a function of (seed, qid, docids shown, in order), so the same prompt always
gets the same answer, as from a model decoding greedily; `latency` seconds are slept per call.

Tokens: with a `TokenCounter` (the spec's default: `tokenizer=HuggingFaceTB/SmolLM2-135M-Instruct`,
`prompt=prp`, `list_prompt=rankgpt`, `set_prompt=setwise`; `tokens=false` turns it off, and so does
an install without transformers, the `hf` extra, unless `tokens=true` asks for it) each answer
reports the tokens the prompt it stands in for would have (rankpipe/judges/token_counts.py), so
ledgers of sim runs carry real token figures. Counting never changes an answer, so it is not part
of the identity."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import random
import time
from collections.abc import Sequence

from rankpipe.data.trec import read_qrels
from rankpipe.data.types import Candidate, Qrels, Query
from rankpipe.errors import InputError
from rankpipe.judges.base import (
    BlockJudgment,
    BlockPrompt,
    Judgment,
    PairPrompt,
    SetJudgment,
    SetPrompt,
)
from rankpipe.judges.spec import (
    JudgeSpec,
    bool_option,
    check_options,
    float_option,
    int_option,
)
from rankpipe.judges.token_counts import DEFAULT_TOKENIZER, TokenCounter

log = logging.getLogger(__name__)


class SimulatedJudge:
    """Pairwise and listwise answers from qrels under a noise and position-bias model."""

    reads_text = False

    def __init__(
        self,
        qrels: Qrels,
        noise: float = 0.0,
        bias: float = 0.0,
        seed: int = 0,
        latency: float = 0.0,
        tokens: TokenCounter | None = None,
    ) -> None:
        for label, value in (("noise", noise), ("bias", bias)):
            if not 0.0 <= value <= 1.0:
                raise InputError(f"sim judge: {label} must lie in [0, 1], got {value}")
        self.qrels = qrels
        self.noise, self.bias, self.seed, self.latency = noise, bias, seed, latency
        fingerprint = hashlib.sha256(
            repr(sorted((q, sorted(d.items())) for q, d in qrels.items())).encode()
        )
        self.identity = (
            f"sim:qrels#{fingerprint.hexdigest()[:12]},noise={noise},bias={bias},seed={seed}"
        )
        self.calls = 0
        self.tokens = tokens

    def grade(self, qid: str, docid: str) -> int:
        return self.qrels.get(qid, {}).get(docid, 0)

    def grade_of(self, query: Query, passage: Candidate) -> int:
        """The grade a prompt's passage gets (the qrels' label; `sim:grades=overlap` reads the
        texts instead, rankpipe/judges/overlap.py)."""
        return self.grade(query.qid, passage.docid)

    def _rng(self, *parts: str) -> random.Random:
        digest = hashlib.sha256("\x1f".join((str(self.seed), *parts)).encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def judge(self, prompts: Sequence[PairPrompt]) -> list[Judgment]:
        self._pause()
        answers = [self._judge_one(p) for p in prompts]
        if self.tokens is None:
            return answers
        counts = self.tokens.pair_prompts(prompts)
        return [Judgment(j.p_a, n, 1) for j, n in zip(answers, counts, strict=True)]

    def _judge_one(self, prompt: PairPrompt) -> Judgment:
        qid = prompt.query.qid
        rng = self._rng("pair", qid, prompt.a.docid, prompt.b.docid)
        if rng.random() < self.bias:
            return Judgment(1.0)
        a, b = self.grade_of(prompt.query, prompt.a), self.grade_of(prompt.query, prompt.b)
        if a == b:
            return Judgment(0.5)
        prefers_a = a > b
        if rng.random() < self.noise:
            prefers_a = not prefers_a
        return Judgment(1.0 if prefers_a else 0.0)

    def rank(self, prompts: Sequence[BlockPrompt]) -> list[BlockJudgment]:
        self._pause()
        answers = [self._rank_one(p) for p in prompts]
        if self.tokens is None:
            return answers
        counts, tokens = self.tokens.block_prompts(prompts), self.tokens
        return [
            BlockJudgment(j.order, n, tokens.permutation_tokens(len(j.order)))
            for j, n in zip(answers, counts, strict=True)
        ]

    def _rank_one(self, prompt: BlockPrompt) -> BlockJudgment:
        qid = prompt.query.qid
        grades = [self.grade_of(prompt.query, p) for p in prompt.passages]
        order = sorted(range(len(grades)), key=lambda i: -grades[i])
        rng = self._rng("block", qid, *(p.docid for p in prompt.passages))
        for i in range(len(order) - 1):
            if rng.random() < self.noise:
                order[i], order[i + 1] = order[i + 1], order[i]
        return BlockJudgment(tuple(order))

    def choose(self, prompts: Sequence[SetPrompt]) -> list[SetJudgment]:
        self._pause()
        answers = [self._choose_one(p) for p in prompts]
        if self.tokens is None:
            return answers
        counts = self.tokens.set_prompts(prompts)
        return [SetJudgment(j.probs, n, 1) for j, n in zip(answers, counts, strict=True)]

    def _choose_one(self, prompt: SetPrompt) -> SetJudgment:
        """The best grade wins (ties share the probability equally); with probability `noise` a
        random member not of the best grade is picked instead, with probability `bias` the first
        shown; all members of one grade tie whatever the noise."""
        qid, size = prompt.query.qid, len(prompt.passages)
        rng = self._rng("set", qid, *(p.docid for p in prompt.passages))
        grades = [self.grade_of(prompt.query, p) for p in prompt.passages]
        pick: int | None = None
        if rng.random() < self.bias:
            pick = 0
        elif rng.random() < self.noise:
            others = [i for i, g in enumerate(grades) if g < max(grades)]
            pick = rng.choice(others) if others else None
        if pick is not None:
            return SetJudgment(tuple(float(i == pick) for i in range(size)))
        best = [g == max(grades) for g in grades]
        return SetJudgment(tuple(b / sum(best) for b in best))

    def _pause(self) -> None:
        self.calls += 1
        if self.latency:
            time.sleep(self.latency)


def _build(spec: JudgeSpec, qrels: Qrels | None) -> SimulatedJudge:
    check_options(spec, {"qrels", "grades", "noise", "bias", "seed", "latency", *TOKEN_OPTIONS})
    if spec.target:
        raise InputError(f"judge {spec}: sim takes options only, e.g. sim:qrels=FILE,noise=0.1")
    if "grades" in spec.options:  # grades from the texts: any documents, no qrels
        from rankpipe.judges.overlap import build_overlap

        return build_overlap(spec, _counter(spec))
    if "qrels" in spec.options:
        qrels = read_qrels(spec.options["qrels"])
    elif qrels is None:
        raise InputError(f"judge {spec}: sim needs qrels=FILE (or a --dataset that has qrels)")
    return SimulatedJudge(
        qrels,
        noise=float_option(spec, "noise", 0.0),
        bias=float_option(spec, "bias", 0.0),
        seed=int_option(spec, "seed", 0),
        latency=float_option(spec, "latency", 0.0),
        tokens=_counter(spec),
    )


TOKEN_OPTIONS = ("tokens", "tokenizer", "prompt", "list_prompt", "set_prompt")


def _counter(spec: JudgeSpec) -> TokenCounter | None:
    """The token counter the spec asks for (None with tokens=false, and by default, with a warning,
    where transformers, of the `hf` extra, is not installed)."""
    if not bool_option(spec, "tokens", True):
        return None
    if "tokens" not in spec.options and importlib.util.find_spec("transformers") is None:
        log.warning(
            "the sim judge counts no tokens: that needs transformers (pip install 'rankpipe[hf]'); "
            "tokens=false drops the counts without this warning"
        )
        return None
    return TokenCounter(
        spec.options.get("tokenizer", DEFAULT_TOKENIZER),
        spec.options.get("prompt", "prp"),
        spec.options.get("list_prompt", "rankgpt"),
        spec.options.get("set_prompt", "setwise"),
    )


pairwise_judge = _build
list_judge = _build
