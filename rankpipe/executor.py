"""The executor: the one place where strategies, the cache, the judge and the cost ledger meet.

It runs the strategies of many queries side by side and hands back one `Outcome` per query: the
order the strategy returned, the scores it carried, every request it asked with its answer, and its
cost. Queries are admitted to a `Session` at any time, also while others are in flight, and leave
as soon as their strategy finishes: `Executor.run` admits a batch and waits for all of it, the
service (`rankpipe.scheduler`) admits requests as they arrive. Nothing depends on the order in which
queries start or finish.

Each wave takes the current round of every active query, turns its requests into prompts (the forms
of `rankpipe.forms`), drops duplicates, answers what it can from the cache, sends the rest to the
judge in batches of up to `batch_size` (across queries), stores each batch in the cache as it
returns, and hands every strategy its answers. A run killed midway and restarted with the same cache
therefore repeats no committed batch; a judge that fails part-way through a batch
(`JudgeError.partial`) has the answers it did give cached and charged before the error surfaces.

Orders: with `both_orders`, a comparison (a, b) asks the prompts (a, b) and (b, a) and combines them
as (P(a>b) + 1 - P(b>a)) / 2, PRP's fix for position bias. With one order it asks (a, b) alone; a
(b, a) asked earlier by the same query answers it as 1 - P(b>a), so a query sees the answers it
would see on an empty cache whatever else the cache holds (a judge's position bias makes the two
orders' answers differ). `reuse_reversed=True` lets a (b, a) found in the cache answer too: fewer
inferences, but an output that depends on the cache's history.

Invalid answers (neither A nor B; no usable set label) are cached as invalid and counted in the
ledger whether fresh or from the cache; a cached one is asked again, up to `max_invalid_retries`
more times over later runs, then served as it is.

One `Executor` may serve several sessions, from several threads: each session keeps its own state,
and a lock lets one wave at a time use the judge and the cache.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tqdm.auto import tqdm

from rankpipe.cache import AnyJudgment, Cache, Entry, MemoryCache, prompt_key
from rankpipe.cost import CostLedger, QueryCost
from rankpipe.data.types import QueryCandidates, Ranking, Run
from rankpipe.errors import InputError, JudgeError
from rankpipe.forms import FORMS, PAIR, Form, FormName, form_of, judge_of, members
from rankpipe.judges.base import Judge, ListJudge, PairPrompt, SetJudge
from rankpipe.strategies.aggregate import ScoredOrder
from rankpipe.strategies.base import Comparison, Request, Strategy, StrategyRun, check_permutation


@dataclass(frozen=True)
class Outcome:
    """What the executor hands back for one query."""

    qid: str
    order: tuple[int, ...]
    """The strategy's order: positions into the candidates, best first."""
    scores: tuple[float, ...] | None
    """The strategy's score of each position of `order`, where it returned a `ScoredOrder`."""
    ranking: Ranking
    """The order as docids (scores n, n-1, ..., 1 by rank)."""
    answered: tuple[tuple[Request, Any], ...]
    """Every request the strategy asked, in order, with the answer it received."""
    cost: QueryCost

    @property
    def forms(self) -> frozenset[FormName]:
        """The request forms the strategy asked."""
        return frozenset(form_of(request).name for request, _ in self.answered)

    def comparisons(self) -> list[tuple[int, int, float]]:
        """The pairwise comparisons asked, as (a, b, P(a beats b)), repeats included."""
        return [(r.a, r.b, float(p)) for r, p in self.answered if isinstance(r, Comparison)]


class Results(Mapping[str, Outcome]):
    """The outcomes of one `Executor.run`, keyed by qid in the order the queries were given, and
    the run's cost ledger."""

    def __init__(self, outcomes: Mapping[str, Outcome], ledger: CostLedger) -> None:
        self.outcomes = dict(outcomes)
        self.ledger = ledger

    def __getitem__(self, qid: str) -> Outcome:
        return self.outcomes[qid]

    def __iter__(self) -> Iterator[str]:
        return iter(self.outcomes)

    def __len__(self) -> int:
        return len(self.outcomes)

    @property
    def run(self) -> Run:
        """qid -> the reranked Ranking."""
        return {qid: outcome.ranking for qid, outcome in self.outcomes.items()}


@dataclass(frozen=True)
class Done:
    """A query that left a session: its outcome, or the judge error that stopped it."""

    key: Hashable
    outcome: Outcome | None
    error: BaseException | None = None


Orders = Literal["both", "one"]
ORDERS: tuple[Orders, ...] = ("both", "one")


def asks_both(orders: str) -> bool:
    """Whether `orders` ("both": (A,B) and (B,A), averaged; "one": (A,B) only) asks both orders:
    the one check behind Reranker(orders=), compare's Configuration, distill's MiningSettings and
    the CLIs' --orders."""
    if orders not in ORDERS:
        raise InputError(f"orders must be one of {', '.join(ORDERS)}, got {orders!r}")
    return orders == "both"


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
        given = {"pair": judge, "block": list_judge, "set": set_judge}
        self.judges: dict[FormName, Any] = {
            name: given[name] if given[name] is not None else judge_of(form, judge)
            for name, form in FORMS.items()
        }
        self.cache: Cache = cache if cache is not None else MemoryCache()
        self.batch_size = batch_size
        self.both_orders = both_orders
        self.reuse_reversed = reuse_reversed
        self.max_invalid_retries = max_invalid_retries
        self.progress = progress
        self.lock = threading.RLock()
        """Held by a session's wave while it uses the judge and the cache."""

    def session(self, desc: str = "rerank", *, isolate_failures: bool = False) -> Session:
        """A session that admits queries at any time (see `Session`)."""
        return Session(self, desc, isolate_failures=isolate_failures)

    def run(
        self,
        items: Sequence[QueryCandidates],
        strategy: Strategy | Mapping[str, Strategy],
        top_k: int,
    ) -> Results:
        """Rerank every query with `strategy` (or each with its own: qid -> strategy), the first
        `top_k` positions decided; returns each query's outcome, keyed by qid in the order given,
        and the run's ledger."""
        qids = [item.query.qid for item in items]
        if len(set(qids)) != len(qids):
            repeated = next(q for q in qids if qids.count(q) > 1)
            raise ValueError(f"query {repeated!r} is given more than once")
        started = time.perf_counter()
        outcomes: dict[Hashable, Outcome] = {}
        each = strategy if isinstance(strategy, Mapping) else dict.fromkeys(qids, strategy)
        name = next(iter(each.values())).name if each else "rerank"
        with self.session(f"rerank {name}") as session:
            for item in items:
                session.admit(item, each[item.query.qid], top_k, key=item.query.qid)
            while session.active:
                for done in session.step():
                    assert done.outcome is not None
                    outcomes[done.key] = done.outcome
        ledger = CostLedger(judge_calls=session.judge_calls)
        for qid in qids:
            ledger.per_query[qid] = outcomes[qid].cost
        ledger.wall_s = time.perf_counter() - started
        return Results({qid: outcomes[qid] for qid in qids}, ledger)

    def key(self, form: Form, query: Any, shown: Any) -> bytes:
        judge = self.judge_for(form)
        return prompt_key(form.name, judge.identity, judge.reads_text, query, shown)

    def judge_for(self, form: Form) -> Any:
        """The judge that answers this form, or a clear error when there is none."""
        judge = self.judges[form.name]
        if judge is None:
            raise RuntimeError(
                f"the strategy asks {form.asks} but the judge has no {form.style} form"
            )
        return judge


@dataclass
class _Need:
    """A prompt some queries need this wave; `reverse` is the key that can answer it instead (one
    order); `attempts` how often it was asked before (an invalid answer in the cache)."""

    prompt: Any
    form: Form
    owners: list[_Job]
    reverse: bytes | None = None
    attempts: int = 0


_Wanted = list[tuple[object, bytes, Any, "bytes | None"]]


@dataclass(eq=False)
class _Job:
    """One query's strategy in flight, its current round, and what it has asked and learnt."""

    key: Hashable
    item: QueryCandidates
    run: StrategyRun
    name: str
    cost: QueryCost = field(default_factory=QueryCost)
    requests: Sequence[Request] = ()
    keys: list[tuple[bytes, ...]] = field(default_factory=list)
    known: dict[bytes, AnyJudgment] = field(default_factory=dict)
    asked: set[object] = field(default_factory=set)
    needed: set[object] = field(default_factory=set)
    new_keys: list[tuple[bytes, bytes | None]] = field(default_factory=list)
    """Keys (and reverse keys) of the prompts new to the query this round (stand-alone tokens)."""
    answered: list[tuple[Request, Any]] = field(default_factory=list)
    error: BaseException | None = None


class Session:
    """Queries in flight on one executor: `admit` them at any time, `step` runs one wave over all
    of them and returns those that finished. With `isolate_failures`, a judge error fails only the
    queries whose prompts were in the failed batch (returned as `Done` with the error) and the wave
    goes on for the others; without, it is raised (after the answers given were cached)."""

    def __init__(self, executor: Executor, desc: str, *, isolate_failures: bool = False) -> None:
        self.executor = executor
        self.isolate_failures = isolate_failures
        self.judge_calls = 0
        self._jobs: dict[Hashable, _Job] = {}
        self._finished: list[Done] = []
        self._counter = itertools.count()
        self._counts = {"inferences": 0, "cache_hits": 0, "invalid": 0}
        self._bar = tqdm(total=0, desc=desc, disable=not executor.progress, unit="prompt")

    @property
    def active(self) -> int:
        """Queries admitted and not yet handed back."""
        return len(self._jobs) + len(self._finished)

    def admit(
        self,
        item: QueryCandidates,
        strategy: Strategy,
        top_k: int,
        key: Hashable | None = None,
    ) -> Hashable:
        """Start a query's strategy; it takes part from the next wave on. Returns its key (by
        default a fresh one)."""
        key = next(self._counter) if key is None else key
        if key in self._jobs:
            raise ValueError(f"a query with key {key!r} is already in flight")
        n = len(item.candidates)
        job = _Job(key, item, strategy.run(n, min(top_k, n)), strategy.name)
        self._advance(job, None)
        return key

    def cancel(self, key: Hashable) -> bool:
        """Drop a query before its next wave (its client left); True if it was in flight."""
        return self._jobs.pop(key, None) is not None

    def step(self) -> list[Done]:
        """Run one wave over the active queries; return the ones that finished."""
        jobs = list(self._jobs.values())
        if jobs:
            with self.executor.lock:
                started = time.perf_counter()
                try:
                    self._wave(jobs)
                finally:
                    self.executor.cache.flush()
                seconds = time.perf_counter() - started
            for job in jobs:
                job.cost.wall_s += seconds
                self._hand_back(job)
        finished, self._finished = self._finished, []
        return finished

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _advance(self, job: _Job, answers: list[Any] | None) -> None:
        """Start the strategy or send it answers, skipping empty rounds; hand back its outcome
        when it ends."""
        self._jobs.pop(job.key, None)
        if answers is not None:
            job.answered.extend(zip(job.requests, answers, strict=True))
        n = len(job.item.candidates)
        try:
            requests = next(job.run) if answers is None else job.run.send(answers)
            while not requests:
                requests = job.run.send([])
        except StopIteration as done:
            self._finished.append(Done(job.key, _outcome(job, done.value)))
            return
        for request in requests:
            shown = members(request)
            if any(not 0 <= m < n for m in shown) or len(set(shown)) != len(shown):
                raise RuntimeError(
                    f"strategy {job.name} asked an invalid request for {n} candidates: {request}"
                )
        job.requests = requests
        self._jobs[job.key] = job

    def _hand_back(self, job: _Job) -> None:
        """Hand a job its round's answers (or its error, when it failed)."""
        if job.error is not None:
            self._jobs.pop(job.key, None)
            self._finished.append(Done(job.key, None, job.error))
        elif job.key in self._jobs:
            ex = self.executor
            answers = [
                _answer(request, keys, job.known, ex.both_orders)
                for request, keys in zip(job.requests, job.keys, strict=True)
            ]
            self._advance(job, answers)

    def _wave(self, jobs: list[_Job]) -> None:
        needs: dict[bytes, _Need] = {}
        already = sum(self._collect(job, needs) for job in jobs)
        found: dict[bytes, AnyJudgment] = {}
        self._look_up(needs, found)
        misses = [
            key
            for key, need in needs.items()
            if key not in found and (need.reverse is None or need.reverse not in found)
        ]
        hits = already + len(needs) - len(misses)
        self._counts["cache_hits"] += hits
        self._bar.total += already + len(needs)
        self._bar.refresh()
        self._show(hits)
        for form in FORMS.values():
            keys = [k for k in misses if needs[k].form is form]
            if keys:
                self._run_batches(keys, needs, form, found)
        for key, need in needs.items():
            for k in (key, need.reverse):
                if k is not None and k in found:
                    for owner in need.owners:
                        owner.known[k] = found[k]
        for job in jobs:
            job.cost.cache_hits = job.cost.prompts - job.cost.inferences
            if job.error is None:
                self._count_standalone_tokens(job)

    def _look_up(self, needs: dict[bytes, _Need], found: dict[bytes, AnyJudgment]) -> None:
        """Answer what the cache can; an invalid answer asked too few times is asked again."""
        ex = self.executor
        probes = [
            k
            for key, need in needs.items()
            for k in ((key, need.reverse) if ex.reuse_reversed and need.reverse else (key,))
        ]
        for key, entry in ex.cache.get_many(probes).items():
            if key in needs and not entry.valid and entry.attempts <= ex.max_invalid_retries:
                needs[key].attempts = entry.attempts  # ask again
                continue
            found[key] = entry.judgment
            if key in needs:  # (a reverse found in the cache charges the query that uses it)
                invalid = needs[key].form.invalid(entry.judgment)
                needs[key].owners[0].cost.invalid_answers += invalid
                self._counts["invalid"] += invalid

    def _show(self, answered: int) -> None:
        self._bar.set_postfix(
            inferences=self._counts["inferences"],
            cache_hits=self._counts["cache_hits"],
            invalid=self._counts["invalid"],
            refresh=False,
        )
        self._bar.update(answered)

    def _collect(self, job: _Job, needs: dict[bytes, _Need]) -> int:
        """Count a query's round and register the prompts it needs (keys kept for answering);
        returns how many of them the query already knows."""
        cost = job.cost
        cost.rounds += 1
        cost.comparisons += len(job.requests)
        asked_before, new_prompts, already = cost.prompts, 0, 0
        job.keys, job.new_keys = [], []
        for request in job.requests:
            identity, answer_keys, wanted = self._prompts(job, request)
            job.keys.append(answer_keys)
            cost.unique_comparisons += identity not in job.asked
            job.asked.add(identity)
            cost.prompts += len(wanted)
            for seen, key, prompt, reverse in wanted:
                if seen not in job.needed:
                    new_prompts += 1
                    job.new_keys.append((key, reverse))
                job.needed.add(seen)
                if key in job.known or (reverse is not None and reverse in job.known):
                    already += 1
                    continue
                need = needs.setdefault(key, _Need(prompt, form_of(request), [], reverse))
                if job not in need.owners:
                    need.owners.append(job)
        cost.standalone_inferences += new_prompts
        cost.round_prompts.append(new_prompts)
        cost.round_asked.append(cost.prompts - asked_before)
        return already

    def _prompts(self, job: _Job, request: Request) -> tuple[object, tuple[bytes, ...], _Wanted]:
        """A request's identity (a pair whatever its order), the keys its answer is read from,
        and its prompts: (what the query has seen, cache key, prompt, reverse key)."""
        ex, query = self.executor, job.item.query
        form = form_of(request)
        shown = tuple(job.item.candidates[m] for m in members(request))
        if form is not PAIR:
            key = ex.key(form, query, shown)
            return (
                (form.name, request.members),
                (key,),
                [(key, key, form.prompt(query, shown), None)],
            )
        a, b = request.a, request.b
        k_ab, k_ba = ex.key(PAIR, query, shown), ex.key(PAIR, query, shown[::-1])
        forward, backward = PairPrompt(query, *shown), PairPrompt(query, shown[1], shown[0])
        if ex.both_orders:
            wanted: _Wanted = [((a, b), k_ab, forward, None), ((b, a), k_ba, backward, None)]
        else:
            wanted = [(frozenset((a, b)), k_ab, forward, k_ba)]
        return frozenset((a, b)), (k_ab, k_ba), wanted

    def _count_standalone_tokens(self, job: _Job) -> None:
        """Charge a query the tokens of its prompts new to it, run now or found known."""
        job.cost.add_standalone_round(
            job.known[key if key in job.known else reverse]  # type: ignore[index]
            for key, reverse in job.new_keys
        )

    def _run_batches(
        self, keys: list[bytes], needs: dict[bytes, _Need], form: Form, found: dict[bytes, Any]
    ) -> None:
        """Judge prompts in batches; each batch is cached as it returns and charged to its
        owners; a failed batch's finished answers too, before the error goes on (or, isolating
        failures, before its queries are failed)."""
        judge = self.executor.judge_for(form)
        size = self.executor.batch_size
        for start in range(0, len(keys), size):
            batch = [
                k
                for k in keys[start : start + size]
                if any(o.error is None for o in needs[k].owners)
            ]
            if not batch:
                continue
            try:
                judgments = form.ask(judge, [needs[k].prompt for k in batch])
            except JudgeError as error:
                done = {i: j for i, j in error.partial.items() if 0 <= i < len(batch)}
                if done:
                    self._store([batch[i] for i in done], list(done.values()), needs, judge, found)
                if not self.isolate_failures:
                    raise
                for k in batch:
                    for owner in needs[k].owners:
                        owner.error = owner.error or error
                continue
            if len(judgments) != len(batch):
                raise RuntimeError(
                    f"judge {judge.identity} answered {len(judgments)} of {len(batch)} prompts"
                )
            self._store(batch, judgments, needs, judge, found)

    def _store(
        self,
        batch: list[bytes],
        judgments: list[AnyJudgment],
        needs: dict[bytes, _Need],
        judge: Any,
        found: dict[bytes, Any],
    ) -> None:
        """Cache a judge call's answers and charge them (and the call) to their owners."""
        entries = {}
        for key, judgment in zip(batch, judgments, strict=True):
            need = needs[key]
            prompt = need.prompt
            shown = (prompt.a, prompt.b) if isinstance(prompt, PairPrompt) else prompt.passages
            entries[key] = Entry(
                need.form.name,
                prompt.query.qid,
                tuple(p.docid for p in shown),
                judgment,
                need.attempts + 1,
            )
        self.executor.cache.put_many(entries, judge.identity)
        self.judge_calls += 1
        for owner in {id(needs[k].owners[0]): needs[k].owners[0] for k in batch}.values():
            owner.cost.judge_calls += 1
        for key, judgment in zip(batch, judgments, strict=True):
            found[key] = judgment
            cost = needs[key].owners[0].cost
            cost.add_inference(judgment)
            invalid = needs[key].form.invalid(judgment)
            cost.invalid_answers += invalid
            self._counts["invalid"] += invalid
        self._counts["inferences"] += len(batch)
        self._show(len(batch))


def _answer(request: Request, keys: tuple[bytes, ...], known: dict[bytes, Any], both: bool) -> Any:
    """What the strategy receives for a request, from the judgments its query knows."""
    form = form_of(request)
    if form is not PAIR:
        return form.answer(request, known[keys[0]])
    k_ab, k_ba = keys
    if both:
        return (known[k_ab].p_a + 1.0 - known[k_ba].p_a) / 2.0
    return known[k_ab].p_a if k_ab in known else 1.0 - known[k_ba].p_a


def _outcome(job: _Job, order: Sequence[int]) -> Outcome:
    """A finished query's outcome (its order checked to be a permutation)."""
    checked = check_permutation(order, len(job.item.candidates), job.name)
    scores = order.scores if isinstance(order, ScoredOrder) else None
    item = job.item
    ranking = Ranking.from_order(item.query.qid, (item.candidates[i].docid for i in checked))
    return Outcome(item.query.qid, tuple(checked), scores, ranking, tuple(job.answered), job.cost)
