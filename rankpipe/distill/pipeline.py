"""`distill()`: mine a teacher's pairwise judgments, train a dense student on them, keep the best
checkpoint on a dev split, and optionally repeat with hard negatives from the student's own index.

    from rankpipe.distill import distill
    result = distill(items, make_judge("sim:noise=0.2", qrels), "student", rounds=2, corpus=corpus)
    result.model, result.dev_before, result.dev_after, result.base_unchanged, result.costs()

Round 0 mines the given candidates (the teacher ranks each query's candidates first, then judges
the window pairs of its top 20, `MiningSettings`); later rounds index `corpus` with the student kept
so far, retrieve each training query's top `depth`, mine those (judgments already in the cache are
not asked again) and train on from that student. The dev queries and their judged candidates stay
the same in every round, and a round's step 0 is the student the previous round kept, so the
student finally saved is the best of every evaluated step of every round (with `select`), the
untrained student included.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from rankpipe.cache import Cache, open_cache, opened_cache
from rankpipe.cost import CostLedger
from rankpipe.data.types import Candidate, Qrels, QueryCandidates, Ranking
from rankpipe.distill.config import TrainConfig
from rankpipe.distill.dataset import (
    TrainingSet,
    build_training_set,
    pair_count,
    save_training_set,
    staged_folder,
    write_shards,
)
from rankpipe.distill.dev import DevScore, DevSet, split_dev
from rankpipe.distill.mining import PairRule, mine_pairs
from rankpipe.distill.train import TrainResult, check_student, processes, train_student
from rankpipe.errors import InputError
from rankpipe.executor import Orders, asks_both
from rankpipe.judges.base import Judge

log = logging.getLogger(__name__)

ROUNDS_FILE = "rounds.json"
DEFAULT_TRAINING = TrainConfig()


@dataclass(frozen=True)
class MiningSettings:
    """How the teacher is asked (PairDistill's recipe by default)."""

    rule: PairRule = PairRule("window", window=5, n=16, k=20)
    """Pairs over the teacher's order: j in (i, i+5] within its top 20, 16 per query."""
    rank_with: str | None = "heapsort"
    """The strategy the teacher ranks each query's candidates with first (None: the pairs are
    taken over the first-stage order)."""
    rank_top_k: int = 20
    keep: int | None = 20
    """Candidates per query trained on: the teacher's top `keep`."""
    depth: int = 30
    """Candidates the student retrieves per training query in rounds after the first."""
    batch_size: int = 32
    orders: Orders = "both"
    """both: ask (A,B) and (B,A) and average; one: (A,B) only (as `Reranker(orders=)`)."""
    scores: str = "bradley-terry"
    """Pointwise teacher scores: bradley-terry (over the mined pairs), first-stage, or `run`."""
    score_run: Mapping[str, Ranking] | None = None
    score_run_name: str = ""

    def __post_init__(self) -> None:
        asks_both(self.orders)


@dataclass(frozen=True)
class RoundResult:
    round: int
    queries: int
    """Training queries (dev queries excluded)."""
    judged_pairs: int
    ledger: CostLedger
    """The round's mining cost (cache hits included as such)."""
    train: TrainResult

    @property
    def dev(self) -> list[DevScore]:
        return self.train.dev


@dataclass(frozen=True)
class DistillResult:
    model: Path
    rounds: list[RoundResult]
    dev_queries: list[str]
    dev_measure: str
    select: bool
    training_set: TrainingSet
    """Round 0's training set (dev queries included)."""
    notes: list[str] = field(default_factory=list)

    @property
    def dev_scores(self) -> list[DevScore]:
        """Every dev evaluation, round by round, step 0 first."""
        return [score for r in self.rounds for score in r.dev]

    @property
    def dev_before(self) -> DevScore | None:
        return self.rounds[0].dev[0] if self.rounds[0].dev else None

    @property
    def dev_after(self) -> DevScore | None:
        """The dev score of the saved student."""
        last = self.rounds[-1].train
        return next((s for s in last.dev if s.step == last.kept_step), None)

    @property
    def kept_round(self) -> int | None:
        """The last round whose training changed the student (None: none did)."""
        changed = [r.round for r in self.rounds if r.train.kept_step != 0]
        return changed[-1] if changed else None

    @property
    def base_unchanged(self) -> bool:
        """The output is the untrained student: no evaluated step was clearly better on the dev
        queries."""
        return self.select and bool(self.dev_scores) and self.kept_round is None

    def costs(self) -> dict[str, float]:
        """Mining totals over every round (inferences, cache hits, tokens, judge calls, wall)."""
        totals: dict[str, float] = {}
        for r in self.rounds:
            for name, value in r.ledger.total().items():
                totals[name] = (
                    max(totals.get(name, 0), value)
                    if name == "rounds"
                    else (totals.get(name, 0) + value)
                )
        return totals

    def summary(self) -> str:
        """Dev before -> after, per round, and whether the output is the student unchanged."""
        if self.dev_before is None or self.dev_after is None:
            return "no dev queries: the last step was kept (nothing was selected)"
        lines = [
            f"dev ({len(self.dev_queries)} queries, selected by {self.dev_measure}): "
            f"before {self.dev_before.describe()}",
        ]
        for r in self.rounds:
            best = max(r.dev, key=lambda s: s.value(self.dev_measure))
            held = self.select and best.step != 0 and r.train.kept_step == 0
            lines.append(
                f"  round {r.round}: {r.queries} queries, {r.judged_pairs} pairs, "
                f"{r.train.steps} steps; best step {best.step} "
                f"({best.value(self.dev_measure):.4f}), kept step {r.train.kept_step}"
                + (" (the best not clearly better than step 0)" if held else "")
            )
        lines.append(f"after {self.dev_after.describe()}")
        if self.base_unchanged:
            lines.append(
                "no step was clearly better than the untrained student on the dev queries "
                "(--select-margin): the output is the base model unchanged"
            )
        return "\n".join(lines)


def distill(
    items: Sequence[QueryCandidates],
    judge: Judge,
    out: str | Path,
    *,
    training: TrainConfig = DEFAULT_TRAINING,
    mining: MiningSettings | None = None,
    qrels: Qrels | None = None,
    dev_fraction: float = 0.2,
    dev_queries: Iterable[str] | None = None,
    rounds: int = 1,
    corpus: Mapping[str, str] | None = None,
    cache: str | Path | Cache | None = None,
    overwrite: bool = False,
    progress: bool = False,
    data_name: str = "",
    last_out: str | Path | None = None,
) -> DistillResult:
    """Mine, train, select and save a student to `out` (see the module docstring). `qrels` only
    serve the dev measure (nDCG@10); `corpus` (docid -> text) is what later rounds retrieve from
    (default: every passage among `items`). JudgeError from the teacher propagates; judgments made
    before it are in `cache`."""
    out = Path(out)
    mining = mining or MiningSettings()
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists; choose a new out folder or pass overwrite=True")
    if rounds < 1:
        raise InputError(f"rounds must be at least 1, got {rounds}")
    check_student(training.student)
    training.check()
    with opened_cache(cache) as store:  # a cache opened from a path is closed at the end
        mined, ledger = mine_training_set(items, judge, mining, store, progress)

        def next_round(
            student: str, dev_ids: set[str], work: Path
        ) -> tuple[TrainingSet, CostLedger]:
            retrieved = student_candidates(
                student,
                corpus if corpus is not None else corpus_of(items),
                [i for i in items if i.query.qid not in dev_ids],
                mining.depth,
                work / "index",
                training.device,
            )
            return mine_training_set(retrieved, judge, mining, store, progress)

        return distill_training_set(
            mined,
            out,
            training=training,
            qrels=qrels,
            dev_fraction=dev_fraction,
            dev_queries=dev_queries,
            overwrite=overwrite,
            data_name=data_name,
            ledger=ledger,
            rounds=rounds,
            next_round=next_round,
            last_out=last_out,
        )


NextRound = Callable[[str, set[str], Path], tuple[TrainingSet, CostLedger]]
"""(student so far, dev qids, work folder) -> the next round's training set and mining ledger."""


def distill_training_set(
    mined: TrainingSet,
    out: str | Path,
    *,
    training: TrainConfig = DEFAULT_TRAINING,
    qrels: Qrels | None = None,
    dev_fraction: float = 0.2,
    dev_queries: Iterable[str] | None = None,
    overwrite: bool = False,
    data_name: str = "",
    ledger: CostLedger | None = None,
    rounds: int = 1,
    next_round: NextRound | None = None,
    last_out: str | Path | None = None,
) -> DistillResult:
    """Split the dev queries off a mined training set, train (`rounds` times, each later round on
    the set `next_round` mines), select and save to `out` (and the last round's last step to
    `last_out`, when given: the student selection would have replaced)."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists; choose a new out folder or pass overwrite=True")
    if rounds > 1 and next_round is None:
        raise InputError("rounds > 1 needs the teacher and candidates: use distill()")
    dev_ids = split_dev(mined.data["qid"], dev_fraction, dev_queries, seed=training.seed)
    dev_rows, part = partition(mined, dev_ids) if dev_ids else (None, mined)
    dev = DevSet.from_rows(list(dev_rows), qrels) if dev_rows is not None else None
    ledger = ledger or CostLedger()
    if rounds > 1 and not main_process():
        raise InputError("rounds > 1 run in one process (each round's student is read back)")
    work = out.with_name(f".{out.name}.rounds")
    if main_process():
        shutil.rmtree(work, ignore_errors=True)
    results: list[RoundResult] = []
    student = training.student
    try:
        for r in range(rounds):
            if r:
                assert next_round is not None
                part, ledger = next_round(student, dev_ids, work)
            folder = work / f"round-{r}"
            config = replace(training, student=student, seed=training.seed + r)
            last = last_out if r == rounds - 1 else None
            trained = train_student(
                part, folder, config, data_name=data_name, dev=dev, round=r, last_out=last
            )
            results.append(
                RoundResult(r, part.info.queries, part.info.judged_pairs, ledger, trained)
            )
            student = str(folder)
        measure = dev.measure if dev else ""
        result = DistillResult(out, results, sorted(dev_ids), measure, training.select, mined)
        if main_process():  # under accelerate launch / torchrun, the first process writes
            finish(result, Path(student), out, overwrite)
    finally:
        if main_process():
            shutil.rmtree(work, ignore_errors=True)
    return result


def main_process() -> bool:
    """Whether this is the first (or only) process of a data-parallel run."""
    return os.environ.get("RANK", "0") == "0"


def mine_training_set(
    items: Sequence[QueryCandidates],
    judge: Judge,
    mining: MiningSettings,
    cache: Cache,
    progress: bool = False,
) -> tuple[TrainingSet, CostLedger]:
    """Judge the teacher's pairs for `items` and build their training set."""
    mined = mine_pairs(
        items,
        judge,
        mining.rule,
        cache=cache,
        batch_size=mining.batch_size,
        both_orders=asks_both(mining.orders),
        progress=progress,
        rank_with=mining.rank_with,
        rank_top_k=mining.rank_top_k,
        keep=mining.keep,
    )
    source = "run" if mining.score_run is not None else mining.scores
    built = build_training_set(mined, source, mining.score_run, mining.score_run_name)
    return built, mined.ledger


def partition(training: TrainingSet, qids: set[str]) -> tuple[Any, TrainingSet]:
    """The rows of `training` whose qid is in `qids`, and the training set of the others: both
    selections of the same (possibly memory-mapped) data, from one pass over the qids."""
    inside: list[int] = []
    outside: list[int] = []
    for n, qid in enumerate(training.data["qid"]):
        (inside if qid in qids else outside).append(n)
    rest = training.data.select(outside)
    info = replace(training.info, queries=len(rest), judged_pairs=pair_count(rest))
    return training.data.select(inside), TrainingSet(rest, info)


def without(training: TrainingSet, qids: set[str]) -> TrainingSet:
    """The training set less the queries `qids` (the dev queries)."""
    return partition(training, qids)[1] if qids else training


def corpus_of(items: Iterable[QueryCandidates]) -> dict[str, str]:
    """docid -> text of every candidate of `items`."""
    return {c.docid: c.text for item in items for c in item.candidates}


def student_candidates(
    student: str,
    corpus: Mapping[str, str],
    items: Sequence[QueryCandidates],
    depth: int,
    folder: Path,
    device: str | None = None,
) -> list[QueryCandidates]:
    """Each query's top `depth` passages of `corpus` by the student (a faiss flat index in
    `folder`, removed after): the next round's hard negatives."""
    from rankpipe.retrieval.dense import build_dense_index
    from rankpipe.retrieval.retrievers import open_index

    shutil.rmtree(folder, ignore_errors=True)
    build_dense_index(corpus, folder, model=student, device=device or "cpu")
    run = open_index(folder, device=device or "cpu").search([i.query for i in items], depth)
    shutil.rmtree(folder, ignore_errors=True)
    retrieved = []
    for item in items:
        ranking = run[item.query.qid]
        candidates = tuple(
            Candidate(docid, corpus[docid], float(score), rank)
            for rank, (docid, score) in enumerate(
                zip(ranking.docids, ranking.scores, strict=True), start=1
            )
        )
        retrieved.append(QueryCandidates(item.query, candidates))
    return retrieved


def finish(result: DistillResult, kept: Path, out: Path, overwrite: bool) -> None:
    """Move the kept student to `out`, with round 0's training set and the rounds' dev scores."""
    import json

    with staged_folder(out, overwrite, "student model") as folder:
        shutil.rmtree(folder)
        shutil.copytree(kept, folder)
        save_training_set(result.training_set, folder / "training_set", result.rounds[0].ledger)
        record = {
            "dev_queries": result.dev_queries,
            "dev_measure": result.dev_measure,
            "select": result.select,
            "base_unchanged": result.base_unchanged,
            "kept_round": result.kept_round,
            "rounds": [
                {
                    "round": r.round,
                    "queries": r.queries,
                    "judged_pairs": r.judged_pairs,
                    "steps": r.train.steps,
                    "train_s": r.train.seconds,
                    "kept_step": r.train.kept_step,
                    "dev": [asdict(s) for s in r.dev],
                    "mining": r.ledger.total(),
                }
                for r in result.rounds
            ],
        }
        (folder / ROUNDS_FILE).write_text(json.dumps(record, indent=1) + "\n")


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def mine_to_folder(
    items: Iterable[QueryCandidates],
    judge: Judge,
    out: str | Path,
    *,
    mining: MiningSettings = MiningSettings(),
    cache: str | Path | Cache | None = None,
    shard_queries: int = 1000,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Mine `items` (any iterable: read lazily) `shard_queries` at a time and write each shard's
    training set as it is done, so memory is bounded by one shard, not by the number of queries."""
    if shard_queries < 1:
        raise InputError(f"shard_queries must be at least 1, got {shard_queries}")
    if cache is None:  # a fresh memory cache a shard: nothing grows with the number of queries
        shards = (
            mine_training_set(chunk, judge, mining, open_cache(None), progress)
            for chunk in chunks(items, shard_queries)
        )
        return write_shards(shards, out, overwrite)
    with opened_cache(cache) as store:
        shards = (
            mine_training_set(chunk, judge, mining, store, progress)
            for chunk in chunks(items, shard_queries)
        )
        return write_shards(shards, out, overwrite)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m rankpipe.distill.train --from-dataset DATA --out DIR ...` (for accelerate launch
    and torchrun): train on a mined training set, select on its dev queries and save (the first
    process writes)."""
    import argparse

    from rankpipe.data.trec import read_qrels
    from rankpipe.distill.dataset import load_training_set
    from rankpipe.distill.options import add_training_arguments, read_qids, train_config

    parser = argparse.ArgumentParser(prog="python -m rankpipe.distill.train", description=__doc__)
    parser.add_argument("--from-dataset", required=True, metavar="DIR")
    parser.add_argument("--out", required=True, metavar="DIR")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--qrels", metavar="FILE", help="relevance labels for the dev nDCG@10")
    add_training_arguments(parser)
    args = parser.parse_args(argv)
    try:
        result = distill_training_set(
            load_training_set(args.from_dataset),
            args.out,
            training=train_config(args),
            qrels=read_qrels(args.qrels) if args.qrels else None,
            dev_fraction=args.dev_fraction,
            dev_queries=read_qids(args.dev_queries) if args.dev_queries else None,
            overwrite=args.overwrite,
            data_name=args.from_dataset,
        )
    except InputError as error:
        print(f"rankpipe.distill.train: {error}", file=sys.stderr)
        return 2
    if result.rounds[0].train.schedule is not None:
        s = result.rounds[0].train.schedule
        print(f"{s.steps} steps, {s.samples} queries seen by {processes()} process(es)")
    print(result.summary())
    return 0
