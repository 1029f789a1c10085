"""The executor: the one place where strategies, the cache, the judge and the cost ledger meet.

It runs the strategies of many queries side by side. Each wave takes the current round of every
unfinished query, turns its requests into prompts, drops duplicates, answers what it can from the
cache, sends the rest to the judge in batches of up to `batch_size` (across queries), stores each
batch in the cache as soon as it returns, and hands every strategy its answers. A run killed midway
and restarted with the same cache therefore repeats no finished batch.

Orders: with `both_orders`, a comparison (a, b) asks the prompts (a, b) and (b, a) and combines them
as (P(a>b) + 1 - P(b>a)) / 2, PRP's fix for position bias. With one order it asks (a, b) alone,
unless (b, a) is already known, which then answers as 1 - P(b>a). With
`reverse_from_cache=False` only a (b, a) asked earlier in the same run answers for (a, b), so that a
run on a shared cache sees the answers it would see on an empty one (strategy comparisons need this;
a judge's position bias makes the two orders' answers differ).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from rankpipe.cache import (
    Cache,
    MemoryCache,
    block_key,
    decode_block_judgment,
    decode_judgment,
    encode_judgment,
    pair_key,
)
from rankpipe.cost import CostLedger, QueryCost
from rankpipe.data.types import QueryCandidates, Ranking, Run
from rankpipe.judges.base import (
    BlockJudgment,
    BlockPrompt,
    Judge,
    Judgment,
    ListJudge,
    PairPrompt,
    listwise_form,
)
from rankpipe.strategies.base import Comparison, Request, Strategy, StrategyRun, check_permutation

AnyJudgment = Judgment | BlockJudgment


@dataclass
class _Need:
    """A prompt some query needs this wave; `reverse` is the key that can answer it instead (one
    order)."""

    prompt: PairPrompt | BlockPrompt
    owner: str
    reverse: str | None = None


@dataclass
class _Query:
    """One query's strategy in flight, its current round, and what it has asked so far."""

    item: QueryCandidates
    run: StrategyRun
    cost: QueryCost
    requests: Sequence[Request] = ()
    keys: list[tuple[str, ...]] = field(default_factory=list)
    asked: set[object] = field(default_factory=set)
    needed: set[object] = field(default_factory=set)
    new_keys: list[tuple[str, str | None]] = field(default_factory=list)
    """Keys (and reverse keys) of the prompts new to the run this round, for stand-alone tokens."""


class Executor:
    """Runs strategies over many queries with batched, cached judging and a cost ledger."""

    def __init__(
        self,
        judge: Judge | None = None,
        *,
        list_judge: ListJudge | None = None,
        cache: Cache | None = None,
        batch_size: int = 32,
        both_orders: bool = True,
        progress: bool = False,
        reverse_from_cache: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.judge = judge
        self.list_judge = list_judge if list_judge is not None else listwise_form(judge)
        self.cache: Cache = cache if cache is not None else MemoryCache()
        self.batch_size = batch_size
        self.both_orders = both_orders
        self.reverse_from_cache = reverse_from_cache
        self.progress = progress
        self._known: dict[str, AnyJudgment] = {}

    def rerank(
        self, items: Sequence[QueryCandidates], strategy: Strategy, top_k: int
    ) -> tuple[Run, CostLedger]:
        """Rerank every query with `strategy`; returns the new run (all candidates, best first)
        and its costs."""
        ledger = CostLedger()
        started = time.perf_counter()
        self._known = {}
        results: dict[str, list[int]] = {}
        queries: list[_Query] = []
        for item in items:
            n = len(item.candidates)
            state = _Query(item, strategy.run(n, min(top_k, n)), ledger.query(item.query.qid))
            self._advance(state, None, strategy.name, results, queries)
        with tqdm(
            total=len(items),
            desc=f"rerank {strategy.name}",
            disable=not self.progress,
            unit="query",
        ) as bar:
            bar.update(len(results))
            while queries:
                wave_started = time.perf_counter()
                answers = self._answer_wave(queries, ledger)
                wave_s = time.perf_counter() - wave_started
                still: list[_Query] = []
                for state, answer in zip(queries, answers, strict=True):
                    state.cost.wall_s += wave_s
                    self._advance(state, answer, strategy.name, results, still)
                bar.update(len(queries) - len(still))
                bar.set_postfix(
                    inferences=sum(c.inferences for c in ledger.per_query.values()), refresh=False
                )
                queries = still
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
        needs: dict[str, _Need] = {}
        for state in queries:
            self._collect(state, needs)
        probes = [k for key, need in needs.items() for k in self._probes(key, need)]
        for key, value in self.cache.get_many(probes).items():
            block = isinstance(needs[key].prompt, BlockPrompt) if key in needs else False
            self._known[key] = decode_block_judgment(value) if block else decode_judgment(value)
        misses = [
            key
            for key, need in needs.items()
            if key not in self._known and (need.reverse is None or need.reverse not in self._known)
        ]
        pair_misses = [k for k in misses if isinstance(needs[k].prompt, PairPrompt)]
        block_misses = [k for k in misses if isinstance(needs[k].prompt, BlockPrompt)]
        if pair_misses:
            assert self.judge is not None
            self._run_batches(pair_misses, needs, self.judge.judge, self.judge.identity, ledger)
        if block_misses:
            assert self.list_judge is not None
            self._run_batches(
                block_misses, needs, self.list_judge.rank, self.list_judge.identity, ledger
            )
        for state in queries:
            state.cost.cache_hits = state.cost.prompts - state.cost.inferences
            self._count_standalone_tokens(state)
        return [
            [self._answer(r, keys) for r, keys in zip(state.requests, state.keys, strict=True)]
            for state in queries
        ]

    def _probes(self, key: str, need: _Need) -> tuple[str, ...]:
        """The cache keys to look up for a prompt: its own and its reverse's; without
        `reverse_from_cache`, none when the run already knows the reverse (which answers), else
        its own."""
        if self.reverse_from_cache:
            return tuple(k for k in (key, need.reverse) if k and k not in self._known)
        if key in self._known or (need.reverse is not None and need.reverse in self._known):
            return ()
        return (key,)

    def _collect(self, state: _Query, needs: dict[str, _Need]) -> None:
        """Count a query's round and register the prompts it needs (keys kept for answering)."""
        qid, item, cost = state.item.query.qid, state.item, state.cost
        cost.rounds += 1
        cost.comparisons += len(state.requests)
        asked_before = cost.prompts
        new_prompts = 0
        state.keys = []
        state.new_keys = []
        for request in state.requests:
            if isinstance(request, Comparison):
                if self.judge is None:
                    raise RuntimeError(
                        "the strategy asks pairwise comparisons but no pairwise judge was given"
                    )
                forward = PairPrompt(
                    item.query, item.candidates[request.a], item.candidates[request.b]
                )
                backward = PairPrompt(
                    item.query, item.candidates[request.b], item.candidates[request.a]
                )
                k_ab, k_ba = pair_key(self.judge, forward), pair_key(self.judge, backward)
                pair: object = frozenset((request.a, request.b))
                wanted: list[tuple[object, str, _Need]]
                if self.both_orders:
                    wanted = [
                        ((request.a, request.b), k_ab, _Need(forward, qid)),
                        ((request.b, request.a), k_ba, _Need(backward, qid)),
                    ]
                else:
                    wanted = [(pair, k_ab, _Need(forward, qid, reverse=k_ba))]
                state.keys.append((k_ab, k_ba))
            else:
                if self.list_judge is None:
                    raise RuntimeError(
                        "the strategy asks listwise blocks but the judge has no listwise form"
                    )
                prompt = BlockPrompt(item.query, tuple(item.candidates[m] for m in request.members))
                pair = request.members
                key = block_key(self.list_judge, prompt)
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

    def _count_standalone_tokens(self, state: _Query) -> None:
        """Charge a query the tokens of its prompts new to the run, run now or found known."""
        for key, reverse in state.new_keys:
            known = key if key in self._known else reverse
            judgment = self._known[known]  # type: ignore[index]
            state.cost.standalone_prompt_tokens += judgment.prompt_tokens
            state.cost.standalone_completion_tokens += judgment.completion_tokens

    def _run_batches(
        self,
        keys: list[str],
        needs: dict[str, _Need],
        answer: Callable[[list[Any]], Sequence[AnyJudgment]],
        identity: str,
        ledger: CostLedger,
    ) -> None:
        """Judge prompts in batches; each batch is cached as soon as it returns and charged to its
        owners."""
        for start in range(0, len(keys), self.batch_size):
            batch = keys[start : start + self.batch_size]
            judgments = answer([needs[k].prompt for k in batch])
            if len(judgments) != len(batch):
                raise RuntimeError(
                    f"judge {identity} answered {len(judgments)} of {len(batch)} prompts"
                )
            encoded = {k: encode_judgment(j) for k, j in zip(batch, judgments, strict=True)}
            self.cache.put_many(encoded, identity)
            ledger.judge_calls += 1
            for owner in {needs[k].owner for k in batch}:
                ledger.query(owner).judge_calls += 1
            for key, judgment in zip(batch, judgments, strict=True):
                self._known[key] = judgment
                cost = ledger.query(needs[key].owner)
                cost.inferences += 1
                cost.prompt_tokens += judgment.prompt_tokens
                cost.completion_tokens += judgment.completion_tokens
                cost.invalid_answers += (
                    judgment.repairs if isinstance(judgment, BlockJudgment) else not judgment.valid
                )

    def _answer(self, request: Request, keys: tuple[str, ...]) -> Any:
        if not isinstance(request, Comparison):
            block = self._known[keys[0]]
            assert isinstance(block, BlockJudgment)
            return tuple(request.members[i] for i in block.order)
        k_ab, k_ba = keys
        if self.both_orders:
            return (self._p(k_ab) + 1.0 - self._p(k_ba)) / 2.0
        return self._p(k_ab) if k_ab in self._known else 1.0 - self._p(k_ba)

    def _p(self, key: str) -> float:
        judgment = self._known[key]
        assert isinstance(judgment, Judgment)
        return judgment.p_a


def _ranking(item: QueryCandidates, order: list[int]) -> Ranking:
    return Ranking.from_order(item.query.qid, (item.candidates[i].docid for i in order))
