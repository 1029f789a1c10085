"""The persistent judgment cache with real judges: a repeated run asks the model nothing, two
processes writing at once lose nothing, one-order runs reuse the reverse order only on request,
and the `rankpipe cache` command reports and clears what is stored."""

from __future__ import annotations

import multiprocessing
from itertools import combinations
from pathlib import Path

import pytest
from judge_helpers import AskPairs, CountingJudge

from rankpipe.cache import SQLiteCache
from rankpipe.cli.main import main
from rankpipe.data.datasets import Dataset, load_dataset
from rankpipe.executor import Executor
from rankpipe.judges.embedding import EmbeddingJudge
from rankpipe.judges.simulated import SimulatedJudge
from rankpipe.judges.spec import make_judge
from rankpipe.judges.transformers import TransformersJudge
from rankpipe.reranker import rerank

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
TOP6 = list(combinations(range(6), 2))
"""All 15 pairs among the first six candidates."""


def test_a_repeated_run_makes_no_model_calls(
    minilm: EmbeddingJudge, demo: Dataset, tmp_path: Path
) -> None:
    cache, items = tmp_path / "judgments.sqlite", demo.candidates[:3]
    first_judge, first = CountingJudge(minilm), AskPairs(TOP6)
    first_run = rerank(items, first_judge, first, top_k=6, cache=cache, batch_size=16)
    assert first_judge.calls > 0 and first_run.cost.total()["inferences"] == 3 * 15 * 2

    again_judge, again = CountingJudge(minilm), AskPairs(TOP6)
    second_run = rerank(items, again_judge, again, top_k=6, cache=cache, batch_size=16)
    assert again_judge.calls == 0
    total = second_run.cost.total()
    assert total["inferences"] == 0 and total["cache_hits"] == total["prompts"] == 90
    assert again.answers == first.answers
    assert second_run.run == first_run.run

    other = CountingJudge(make_judge(f"embed:{MINILM},temperature=0.1"))
    rerank(items, other, AskPairs(TOP6), top_k=6, cache=cache)
    assert other.calls > 0  # another identity shares nothing


def rerank_in_another_process(cache: str, seed: int, barrier: object, done: object) -> None:
    """One of two processes filling the same cache at once, a batch (a transaction) per prompt."""
    demo = load_dataset("demo")
    judge = SimulatedJudge(demo.qrels, noise=0.3, seed=seed)
    barrier.wait()  # type: ignore[attr-defined]
    result = rerank(demo.candidates, judge, AskPairs(TOP6), top_k=6, cache=cache, batch_size=1)
    done.put((judge.identity, result.cost.total()["inferences"]))  # type: ignore[attr-defined]


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    cache = str(tmp_path / "shared.sqlite")
    context = multiprocessing.get_context("spawn")
    barrier, done = context.Barrier(2), context.Queue()
    workers = [
        context.Process(target=rerank_in_another_process, args=(cache, seed, barrier, done))
        for seed in (1, 2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    reported = dict(done.get(timeout=5) for _ in workers)
    assert sorted(reported.values()) == [10 * 15 * 2] * 2
    stored = SQLiteCache(cache)
    assert dict(stored.stats()) == reported
    stored.close()


def test_one_order_answers_the_reverse_pair_from_the_cache(
    smollm2: TransformersJudge, demo: Dataset, tmp_path: Path
) -> None:
    """SmolLM2 favours one position, so P(B before A) differs from 1 - P(A before B): an answer of
    exactly 1 - P(A before B) can only come from the cached forward prompt."""
    cache, item = tmp_path / "one-order.sqlite", demo.candidates[6].truncated(2)
    forward, forward_judge = AskPairs([(0, 1)]), CountingJudge(smollm2)
    rerank([item], forward_judge, forward, top_k=2, cache=cache, orders="one")
    (p_ab,), = forward.answers
    assert forward_judge.calls == 1

    # only on request (by default a run asks its own prompts, whatever the cache holds)
    backward, backward_judge = AskPairs([(1, 0)]), CountingJudge(smollm2)
    with SQLiteCache(cache) as stored:
        executor = Executor(backward_judge, cache=stored, both_orders=False, reuse_reversed=True)
        cost = executor.run([item], backward, 2).ledger
    (p_ba,), = backward.answers
    assert backward_judge.calls == 0
    assert p_ba == pytest.approx(1.0 - p_ab, abs=1e-12)
    assert cost.total()["cache_hits"] == 1

    own, own_judge = AskPairs([(1, 0)]), CountingJudge(smollm2)
    rerank([item], own_judge, own, top_k=2, cache=cache, orders="one")
    assert own_judge.calls == 1 and own.answers[0][0] != pytest.approx(p_ba, abs=1e-6)


def test_cache_command_reports_and_clears(
    demo: Dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cli.sqlite"
    judges = [SimulatedJudge(demo.qrels, seed=seed) for seed in (1, 2)]
    for judge, top in zip(judges, (TOP6, TOP6[:3]), strict=True):
        rerank(demo.candidates, judge, AskPairs(top), top_k=6, cache=path)
    capsys.readouterr()

    assert main(["cache", "stats", "--cache", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: 360 judgments" in out
    assert f"       300  {judges[0].identity}" in out and f"        60  {judges[1].identity}" in out

    assert main(["cache", "clear", "--cache", str(path), "--judge", judges[0].identity]) == 0
    assert f"{path}: deleted 300 judgments" in capsys.readouterr().out
    assert main(["cache", "stats", "--cache", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: 60 judgments" in out and judges[0].identity not in out

    assert main(["cache", "clear", "--cache", str(path)]) == 0
    assert "deleted 60 judgments" in capsys.readouterr().out

    assert main(["cache", "stats", "--cache", str(tmp_path / "missing.sqlite")]) == 2
    assert "missing.sqlite: no cache file there" in capsys.readouterr().err
