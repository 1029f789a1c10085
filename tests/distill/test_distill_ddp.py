"""Data-parallel training on CPU processes: two processes (gloo) launched by `accelerate launch`
train a student that loads and reranks as well as the one process trained on the same number of
queries (2 processes x 2 queries a step = 1 process x 4 queries a step, 4 steps each)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rankpipe.cache import MemoryCache
from rankpipe.data.datasets import Dataset
from rankpipe.distill.dataset import save_training_set
from rankpipe.distill.pipeline import MiningSettings, mine_training_set
from rankpipe.judges.simulated import SimulatedJudge

TRAIN = ["--max-steps", "4", "--max-seq-length", "32", "--lr", "1e-4", "--no-select"]


def rerank_ndcg(model: str, demo: Dataset) -> float:
    from rankpipe.data.types import Ranking
    from rankpipe.encoders import Encoder
    from rankpipe.evaluation.metrics import evaluate

    encoder = Encoder(model, "cpu")
    run = {}
    for item in demo.candidates:
        q = encoder.encode([item.query.text], "query", normalize=True)[0]
        p = encoder.encode([c.text for c in item.candidates], "passage", normalize=True)
        scores = (p @ q).tolist()
        order = sorted(range(len(scores)), key=lambda i: -scores[i])
        run[item.query.qid] = Ranking(
            item.query.qid,
            tuple(item.candidates[i].docid for i in order),
            tuple(scores[i] for i in order),
        )
    assert demo.qrels is not None
    return float(evaluate(run, demo.qrels).aggregate["nDCG@10"])


@pytest.mark.slow
def test_two_cpu_processes_train_a_usable_student_on_as_many_queries(
    demo: Dataset, tmp_path: Path
) -> None:
    training, _ = mine_training_set(
        demo.candidates,
        SimulatedJudge(demo.qrels, noise=0.0),
        MiningSettings(rank_top_k=12, keep=12),
        MemoryCache(),
    )
    data = save_training_set(training, tmp_path / "set")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    module = ["-m", "rankpipe.distill.train", "--from-dataset", str(data), *TRAIN]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu"]
    two = subprocess.run(
        [
            *launch,
            "--num_processes",
            "2",
            "--main_process_port",
            "29531",
            *module,
            "--out",
            str(tmp_path / "dp"),
            "--train-batch-size",
            "2",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert two.returncode == 0, two.stderr[-2000:]
    assert "4 steps, 16 queries seen by 2 process(es)" in two.stdout
    one = subprocess.run(
        [sys.executable, *module, "--out", str(tmp_path / "single"), "--train-batch-size", "4"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert one.returncode == 0, one.stderr[-2000:]
    assert "4 steps, 16 queries seen by 1 process(es)" in one.stdout
    parallel, single = (
        rerank_ndcg(str(tmp_path / "dp"), demo),
        rerank_ndcg(str(tmp_path / "single"), demo),
    )
    assert parallel == pytest.approx(single, abs=0.05)
