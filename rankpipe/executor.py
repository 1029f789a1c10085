"""The executor: the one place where strategies, the cache, the judge and the cost ledger meet.

It runs the strategies of many queries side by side. Each wave takes the current round of every
unfinished query, turns its requests into prompts (pairs, listwise blocks, setwise sets), drops
duplicates, answers what it can from the cache, sends the rest to the judge in batches of up to
`batch_size` (across queries), stores each batch in the cache as it returns, and hands every
strategy its answers. A run killed midway and restarted with the same cache therefore repeats no
committed batch; a judge that fails part-way through a batch (`JudgeError.partial`) has the answers
it did give cached and charged before the error surfaces.

Orders: with `both_orders`, a comparison (a, b) asks the prompts (a, b) and (b, a) and combines them
as (P(a>b) + 1 - P(b>a)) / 2, PRP's fix for position bias. With one order it asks (a, b) alone; a
(b, a) asked earlier in the same run answers it as 1 - P(b>a), so a run sees the answers it would
see on an empty cache whatever else the cache holds (a judge's position bias makes the two orders'
answers differ). `reuse_reversed=True` lets a (b, a) found in the cache answer too: fewer
inferences, but an output that depends on the cache's history.

Invalid answers (neither A nor B; no usable set label) are cached as invalid and counted in the
ledger whether fresh or from the cache; a cached one is asked again, up to `max_invalid_retries`
more times over later runs, then served as it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from rankpipe.cache import AnyJudgment, Cache, Entry, MemoryCache, prompt_key
from rankpipe.cost import CostLedger, QueryCost
from rankpipe.data.types import QueryCandidates, Ranking, Run
from rankpipe.errors import JudgeError
from rankpipe.judges.base import (
    BlockJudgment,
    BlockPrompt,
    Judge,
    Judgment,
    ListJudge,
    PairPrompt,
    SetJudge,
    SetJudgment,
    SetPrompt,
    listwise_form,
    setwise_form,
)
from rankpipe.strategies.base import (
    BestOf,
    BlockRequest,
    Comparison,
    Request,
    Strategy,
    StrategyRun,
    check_permutation,
)

AnyPrompt = PairPrompt | BlockPrompt | SetPrompt
KIND = {PairPrompt: "pair", BlockPrompt: "block", SetPrompt: "set"}


@dataclass
class _Need:
    """A prompt some query needs this wave; `reverse` is the key that can answer it instead (one
    order); `attempts` how often it was asked before (an invalid answer in the cache)."""

    prompt: AnyPrompt
    owner: str
    reverse: bytes | None = None
    attempts: int = 0


@dataclass
class _Query:
    """One query's strategy in flight, its current round, and what it has asked so far."""

    item: QueryCandidates
    run: StrategyRun
    cost: QueryCost
    requests: Sequence[Request] = ()
    keys: list[tuple[bytes, ...]] = field(default_factory=list)
    asked: set[object] = field(default_factory=set)
    needed: set[object] = field(default_factory=set)
    new_keys: list[tuple[bytes, bytes | None]] = field(default_factory=list)
    """Keys (and reverse keys) of the prompts new to the run this round, for stand-alone tokens."""


def _invalid(judgment: AnyJudgment) -> int:
    """How many invalid answers a judgment counts for in the ledger."""
    if isinstance(judgment, BlockJudgment):
        return judgment.repairs
    return not judgment.valid


class Executor:
    """Runs strategies over many queries with batched, cached judging and a cost ledger."""

    def __init__(
        self,
        judge: Judge | None = None,
        *,
        list_judge: ListJudge | None = None,
        set_judge: SetJudge | None = None,
        cache: Cache | None = None,
        batch_size: int = 32,
        both_orders: bool = True,
        progress: bool = False,
        reuse_reversed: bool = False,
        max_invalid_retries: int = 2,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if max_invalid_retries < 0:
            raise ValueError("max_invalid_retries must be at least 0")
        self.judge = judge
        self.list_judge = list_judge if list_judge is not None else listwise_form(judge)
        self.set_judge = set_judge if set_judge is not None else setwise_form(judge)
        self.cache: Cache = cache if cache is not None else MemoryCache()
        self.batch_size = batch_size
        self.both_orders = both_orders
        self.reuse_reversed = reuse_reversed
        self.max_invalid_retries = max_invalid_retries
        self.progress = progress
        self._known: dict[bytes, AnyJudgment] = {}
        self._bar: Any = None
        self._counts = {"inferences": 0, "cache_hits": 0, "invalid": 0}

    def rerank(
        self, items: Sequence[QueryCandidates], strategy: Strategy, top_k: int
    ) -> tuple[Run, CostLedger]:
        """Rerank every query with `strategy`; returns the new run (all candidates, best first)
        and its costs."""
        ledger = CostLedger()
        started = time.perf_counter()
        self._known = {}
        self._counts = dict.fromkeys(self._counts, 0)
        results: dict[str, list[int]] = {}
        queries: list[_Query] = []
        for item in items:
            n = len(item.candidates)
            state = _Query(item, strategy.run(n, min(top_k, n)), ledger.query(item.query.qid))
            self._advance(state, None, strategy.name, results, queries)
        with tqdm(
            total=0, desc=f"rerank {strategy.name}", disable=not self.progress, unit="prompt"
        ) as self._bar:
            try:
                while queries:
                    wave_started = time.perf_counter()
                    answers = self._answer_wave(queries, ledger)
                    wave_s = time.perf_counter() - wave_started
                    still: list[_Query] = []
                    for state, answer in zip(queries, answers, strict=True):
                        state.cost.wall_s += wave_s
                        self._advance(state, answer, strategy.name, results, still)
                    queries = still
            finally:
                self.cache.flush()
        self._bar = None
        ledger.wall_s = time.perf_counter() - started
        return {item.query.qid: _ranking(item, results[item.query.qid]) for item in items}, ledger

    @staticmethod
    def _advance(
        state: _Query,
        answer: list[Any] | None,
        name: str,
        results: dict[str, list[int]],
        still: list[_Query],
    ) -> None:
        """Start the strategy or send it answers, skipping empty rounds; record its result when
        it ends."""
        n = len(state.item.candidates)
        try:
            requests = next(state.run) if answer is None else state.run.send(answer)
            while not requests:
                requests = state.run.send([])
        except StopIteration as done:
            results[state.item.query.qid] = check_permutation(done.value, n, name)
            return
        for request in requests:
            members = (request.a, request.b) if isinstance(request, Comparison) else request.members
            if any(not 0 <= m < n for m in members) or len(set(members)) != len(members):
                raise RuntimeError(
                    f"strategy {name} asked an invalid request for {n} candidates: {request}"
                )
        state.requests = requests
        still.append(state)

    def _answer_wave(self, queries: list[_Query], ledger: CostLedger) -> list[list[Any]]:
        needs: dict[bytes, _Need] = {}
        for state in queries:
            self._collect(state, needs)
        self._bar.total += len(needs)
        self._bar.refresh()
        probes = [k for key, need in needs.items() for k in self._probes(key, need)]
        for key, entry in self.cache.get_many(probes).items():
            if key in needs and not entry.valid and entry.attempts <= self.max_invalid_retries:
                needs[key].attempts = entry.attempts  # ask again
                continue
            self._known[key] = entry.judgment
            if key in needs:  # (a reverse found in the cache charges the query that uses it)
                invalid = _invalid(entry.judgment)
                ledger.query(needs[key].owner).invalid_answers += invalid
                self._counts["invalid"] += invalid
        misses = [
            key
            for key, need in needs.items()
            if key not in self._known and (need.reverse is None or need.reverse not in self._known)
        ]
        self._counts["cache_hits"] += len(needs) - len(misses)
        self._show(len(needs) - len(misses))
        for kind, form in (
            ("pair", self.judge),
            ("block", self.list_judge),
            ("set", self.set_judge),
        ):
            keys = [k for k in misses if KIND[type(needs[k].prompt)] == kind]
            if keys:
                assert form is not None
                ask: Callable[[list[Any]], Sequence[AnyJudgment]] = getattr(
                    form, {"pair": "judge", "block": "rank", "set": "choose"}[kind]
                )
                self._run_batches(keys, needs, ask, form.identity, ledger)
        for state in queries:
            state.cost.cache_hits = state.cost.prompts - state.cost.inferences
            self._count_standalone_tokens(state)
        return [
            [self._answer(r, keys) for r, keys in zip(state.requests, state.keys, strict=True)]
            for state in queries
        ]

    def _show(self, answered: int) -> None:
        self._bar.set_postfix(
            inferences=self._counts["inferences"],
            cache_hits=self._counts["cache_hits"],
            invalid=self._counts["invalid"],
            refresh=False,
        )
        self._bar.update(answered)

    def _probes(self, key: bytes, need: _Need) -> tuple[bytes, ...]:
        """The cache keys to look up for a prompt: none when the run already knows it or its
        reverse (which then answers), else its own, and its reverse's with `reuse_reversed`."""
        if key in self._known or (need.reverse is not None and need.reverse in self._known):
            return ()
        if self.reuse_reversed and need.reverse is not None:
            return (key, need.reverse)
        return (key,)

    def _collect(self, state: _Query, needs: dict[bytes, _Need]) -> None:
        """Count a query's round and register the prompts it needs (keys kept for answering)."""
        qid, item, cost = state.item.query.qid, state.item, state.cost
        cost.rounds += 1
        cost.comparisons += len(state.requests)
        asked_before = cost.prompts
        new_prompts = 0
        state.keys = []
        state.new_keys = []
        for request in state.requests:
            wanted: list[tuple[object, bytes, _Need]]
            if isinstance(request, Comparison):
                if self.judge is None:
                    raise RuntimeError(
                        "the strategy asks pairwise comparisons but no pairwise judge was given"
                    )
                shown = (item.candidates[request.a], item.candidates[request.b])
                forward = PairPrompt(item.query, *shown)
                backward = PairPrompt(item.query, shown[1], shown[0])
                k_ab = self._key("pair", self.judge, forward.query, shown)
                k_ba = self._key("pair", self.judge, forward.query, shown[::-1])
                pair: object = frozenset((request.a, request.b))
                if self.both_orders:
                    wanted = [
                        ((request.a, request.b), k_ab, _Need(forward, qid)),
                        ((request.b, request.a), k_ba, _Need(backward, qid)),
                    ]
                else:
                    wanted = [(pair, k_ab, _Need(forward, qid, reverse=k_ba))]
                state.keys.append((k_ab, k_ba))
            else:
                passages = tuple(item.candidates[m] for m in request.members)
                prompt: AnyPrompt
                if isinstance(request, BlockRequest):
                    if self.list_judge is None:
                        raise RuntimeError(
                            "the strategy asks listwise blocks but the judge has no listwise form"
                        )
                    prompt = BlockPrompt(item.query, passages)
                    key = self._key("block", self.list_judge, item.query, passages)
                    pair = request.members
                else:
                    if self.set_judge is None:
                        raise RuntimeError(
                            "the strategy asks setwise choices but the judge has no setwise form"
                        )
                    prompt = SetPrompt(item.query, passages)
                    key = self._key("set", self.set_judge, item.query, passages)
                    pair = ("set", request.members)
                wanted = [(pair, key, _Need(prompt, qid))]
                state.keys.append((key,))
            cost.unique_comparisons += pair not in state.asked
            state.asked.add(pair)
            cost.prompts += len(wanted)
            for identity, key, need in wanted:
                if identity not in state.needed:
                    new_prompts += 1
                    state.new_keys.append((key, need.reverse))
                state.needed.add(identity)
                needs.setdefault(key, need)
        cost.standalone_inferences += new_prompts
        cost.round_prompts.append(new_prompts)
        cost.round_asked.append(cost.prompts - asked_before)

    @staticmethod
    def _key(kind: str, judge: Judge | ListJudge | SetJudge, query: Any, shown: Any) -> bytes:
        return prompt_key(kind, judge.identity, judge.reads_text, query, shown)

    def _count_standalone_tokens(self, state: _Query) -> None:
        """Charge a query the tokens of its prompts new to the run, run now or found known."""
        state.cost.add_standalone_round(
            self._known[key if key in self._known else reverse]  # type: ignore[index]
            for key, reverse in state.new_keys
        )

    def _run_batches(
        self,
        keys: list[bytes],
        needs: dict[bytes, _Need],
        answer: Callable[[list[Any]], Sequence[AnyJudgment]],
        identity: str,
        ledger: CostLedger,
    ) -> None:
        """Judge prompts in batches; each batch is cached as it returns and charged to its
        owners; a failed batch's finished answers too, before the error goes on."""
        for start in range(0, len(keys), self.batch_size):
            batch = keys[start : start + self.batch_size]
            try:
                judgments = list(answer([needs[k].prompt for k in batch]))
            except JudgeError as error:
                done = {i: j for i, j in error.partial.items() if 0 <= i < len(batch)}
                if done:
                    self._store(
                        [batch[i] for i in done], list(done.values()), needs, identity, ledger
                    )
                raise
            if len(judgments) != len(batch):
                raise RuntimeError(
                    f"judge {identity} answered {len(judgments)} of {len(batch)} prompts"
                )
            self._store(batch, judgments, needs, identity, ledger)

    def _store(
        self,
        batch: list[bytes],
        judgments: list[AnyJudgment],
        needs: dict[bytes, _Need],
        identity: str,
        ledger: CostLedger,
    ) -> None:
        """Cache a judge call's answers and charge them (and the call) to their owners."""
        entries = {}
        for key, judgment in zip(batch, judgments, strict=True):
            need = needs[key]
            prompt = need.prompt
            if isinstance(prompt, PairPrompt):
                docids: tuple[str, ...] = (prompt.a.docid, prompt.b.docid)
            else:
                docids = tuple(p.docid for p in prompt.passages)
            entries[key] = Entry(
                KIND[type(prompt)], prompt.query.qid, docids, judgment, need.attempts + 1
            )
        self.cache.put_many(entries, identity)
        ledger.judge_calls += 1
        for owner in {needs[k].owner for k in batch}:
            ledger.query(owner).judge_calls += 1
        for key, judgment in zip(batch, judgments, strict=True):
            self._known[key] = judgment
            cost = ledger.query(needs[key].owner)
            cost.add_inference(judgment)
            invalid = _invalid(judgment)
            cost.invalid_answers += invalid
            self._counts["invalid"] += invalid
        self._counts["inferences"] += len(batch)
        self._show(len(batch))

    def _answer(self, request: Request, keys: tuple[bytes, ...]) -> Any:
        if isinstance(request, BlockRequest):
            block = self._known[keys[0]]
            assert isinstance(block, BlockJudgment)
            return tuple(request.members[i] for i in block.order)
        if isinstance(request, BestOf):
            choice = self._known[keys[0]]
            assert isinstance(choice, SetJudgment)
            return choice.probs
        k_ab, k_ba = keys
        if self.both_orders:
            return (self._p(k_ab) + 1.0 - self._p(k_ba)) / 2.0
        return self._p(k_ab) if k_ab in self._known else 1.0 - self._p(k_ba)

    def _p(self, key: bytes) -> float:
        judgment = self._known[key]
        assert isinstance(judgment, Judgment)
        return judgment.p_a


def _ranking(item: QueryCandidates, order: list[int]) -> Ranking:
    return Ranking.from_order(item.query.qid, (item.candidates[i].docid for i in order))
