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

import functools
import hashlib
import importlib.util
import logging
import random
import re
import time
from collections.abc import Sequence
from typing import Any

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
from rankpipe.judges.options import SimOptions
from rankpipe.judges.spec import JudgeSpec, judge_options
from rankpipe.judges.token_counts import TokenCounter
from rankpipe.options import canonical

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
        draws = canonical(SimOptions(noise=noise, bias=bias, seed=seed))
        self.identity = f"sim:qrels#{fingerprint.hexdigest()[:12]},{draws}"
        self.calls = 0
        self.tokens = tokens

    def grade(self, qid: str, docid: str) -> int:
        return self.qrels.get(qid, {}).get(docid, 0)

    def grade_of(self, query: Query, passage: Candidate) -> int:
        """The grade a prompt's passage gets (the qrels' label; `sim:grades=overlap` reads the
        texts instead, `OverlapJudge`)."""
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


class OverlapJudge(SimulatedJudge):
    """`sim:grades=overlap`: the simulated judge graded by the texts instead of qrels, so that it
    judges any documents (those sent to `rankpipe serve`, a demo without labels). A passage's grade
    is the number of distinct query words (three letters or more, lower-cased) it contains;
    everything else is the sim judge's. Its noise draws, like its cache keys, follow the query and
    passage identifiers, which `rankpipe serve` derives from the texts. A crude lexical judge: it
    stands in for a model's cost, not its quality."""

    def __init__(self, **options: Any) -> None:
        """The sim judge's options (noise, bias, seed, latency, tokens), less its qrels."""
        super().__init__({}, **options)
        draws = SimOptions(grades="overlap", noise=self.noise, bias=self.bias, seed=self.seed)
        self.identity = f"sim:{canonical(draws, ('grades', 'noise', 'bias', 'seed'))}"

    def grade_of(self, query: Query, passage: Candidate) -> int:
        return len(_words(query.text) & _words(passage.text))


@functools.lru_cache(maxsize=65536)
def _words(text: str) -> frozenset[str]:
    """The distinct words of three letters or more, lower-cased."""
    return frozenset(WORD.findall(text.lower()))


WORD = re.compile(r"\w{3,}")


def _build(spec: JudgeSpec, qrels: Qrels | None) -> SimulatedJudge:
    options: SimOptions = judge_options(spec)
    if spec.target:
        raise InputError(f"judge {spec}: sim takes options only, e.g. sim:qrels=FILE,noise=0.1")
    draws = {"noise": options.noise, "bias": options.bias, "seed": options.seed}
    tokens = _counter(options)
    if options.grades is not None:  # grades from the texts: any documents, no qrels
        if options.qrels is not None:
            raise InputError(
                f"judge {spec}: grades={options.grades} reads the texts; it takes no qrels"
            )
        return OverlapJudge(**draws, latency=options.latency, tokens=tokens)
    if options.qrels is not None:
        qrels = read_qrels(options.qrels)
    elif qrels is None:
        raise InputError(f"judge {spec}: sim needs qrels=FILE (or a --dataset that has qrels)")
    return SimulatedJudge(qrels, **draws, latency=options.latency, tokens=tokens)


def _counter(options: SimOptions) -> TokenCounter | None:
    """The token counter the options ask for (None with tokens=false, and by default, with a
    warning, where transformers, of the `hf` extra, is not installed)."""
    if options.tokens is False:
        return None
    if options.tokens is None and importlib.util.find_spec("transformers") is None:
        log.warning(
            "the sim judge counts no tokens: that needs transformers (pip install 'rankpipe[hf]'); "
            "tokens=false drops the counts without this warning"
        )
        return None
    return TokenCounter(options.tokenizer, options.prompt, options.list_prompt, options.set_prompt)


pairwise_judge = _build
list_judge = _build
