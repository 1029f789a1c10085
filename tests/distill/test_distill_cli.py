"""`rankpipe distill` end to end on the demo collection with a tiny training run: the student's
training loss falls, and the model folder goes through save, load, `rankpipe index --kind dense`,
`rankpipe retrieve` and `embed:DIR`; the bad-input cases exit 2 (or 1 for a judge that failed),
and a failed mining run resumes from the cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rankpipe.cli.main import main
from rankpipe.data.datasets import DEMO_DIR, Dataset
from rankpipe.distill.dataset import load_training_set
from rankpipe.errors import JudgeError
from rankpipe.judges import spec as judge_spec

TINY = ["--max-steps", "3", "--train-batch-size", "2", "--lr", "1e-4", "--max-seq-length", "48"]
TINY += ["--no-select"]  # these tests look at training itself; tests/distill/test_distill_select.py
MINE = ["--dataset", "demo", "--depth", "6", "--judge", "sim:noise=0", "--pairs", "window:3,n=6"]
MINE += ["--rank-with", "none"]  # pairs over the first-stage order (test_distill_pipeline: teacher)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A training set mined with --mine-only, then a student trained --from-dataset."""
    folder = tmp_path_factory.mktemp("distill")
    data, model = folder / "set", folder / "student"
    topics = folder / "topics.tsv"
    lines = (DEMO_DIR / "topics.tsv").read_text().splitlines()[:4]
    topics.write_text("\n".join(lines) + "\n")
    assert (
        main(["distill", *MINE, "--queries", str(topics), "--out", str(data), "--mine-only"]) == 0
    )
    assert main(["distill", "--from-dataset", str(data), "--out", str(model), *TINY]) == 0
    return data, model, topics.read_text()


@pytest.mark.slow
def test_a_tiny_training_run_lowers_the_training_loss(trained: tuple[Path, Path, str]) -> None:
    data, model, _ = trained
    assert load_training_set(data).info.queries == 4  # 3 trained on, 1 dev query
    facts = json.loads((model / "distill.json").read_text())
    result = facts["result"]
    assert result["steps"] == 3
    assert result["loss_after"] < result["loss_before"]
    assert facts["training_set"]["teacher"].startswith("sim:")
    card = (model / "README.md").read_text()
    for expected in ("Teacher: `sim:", "pairwise KL", "Final training loss", "window:3,n=6"):
        assert expected in card


@pytest.mark.slow
def test_the_student_loads_indexes_retrieves_and_judges(
    trained: tuple[Path, Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sentence_transformers import SentenceTransformer

    from rankpipe.judges.embedding import EmbeddingJudge

    _, model, _ = trained
    vectors = SentenceTransformer(str(model), device="cpu").encode(["a query", "a passage"])
    assert vectors.shape == (2, 384)
    index, run = tmp_path / "idx", tmp_path / "student.trec"
    corpus = str(DEMO_DIR / "corpus.tsv")
    assert (
        main(
            [
                "index",
                "--corpus",
                corpus,
                "--kind",
                "dense",
                "--model",
                str(model),
                "--out",
                str(index),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "retrieve",
                "--index",
                str(index),
                "--dataset",
                "demo",
                "--k",
                "20",
                "--output",
                str(run),
            ]
        )
        == 0
    )
    assert "nDCG@10" in capsys.readouterr().out
    assert len(run.read_text().splitlines()) == 10 * 20
    judge = EmbeddingJudge(str(model), device="cpu")
    assert judge.identity.startswith(f"embed:{model}")


@pytest.mark.slow
def test_distill_mines_and_trains_in_one_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "student"
    topics = tmp_path / "topics.tsv"
    topics.write_text((DEMO_DIR / "topics.tsv").read_text().splitlines()[0] + "\n")
    args = [
        "distill",
        *MINE,
        "--queries",
        str(topics),
        "--out",
        str(out),
        "--no-cache",
        *TINY[:1],
        "1",
        *TINY[2:],
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert (
        "mined 1 queries, pairs window:3,n=6,seed=0 / sim:noise=0: 6 pairs, 12 inferences"
        in printed
    )
    assert (
        "round 0: trained sentence-transformers/all-MiniLM-L6-v2 on 1 queries: 1 steps" in printed
    )
    assert "no dev queries: the last step was kept" in printed
    assert (out / "modules.json").is_file() and (out / "training_set" / "metadata.json").is_file()
    assert main(args) == 2  # the folder exists now
    assert "exists; choose a new folder or pass --overwrite" in capsys.readouterr().err


def test_bad_input_exits_2_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "out")
    cases = [
        (["--depth", "1"], "no judged pairs"),
        (["--pairs", "window:0"], "window must be at least 1"),
        (["--scores", "nosuch.trec"], "expected bradley-terry, first-stage or a TREC run file"),
    ]
    for extra, says in cases:
        assert main(["distill", *MINE, "--out", out, "--mine-only", "--no-cache", *extra]) == 2
        assert says in capsys.readouterr().err
    assert not Path(out).exists()
    llm = tmp_path / "llm"
    llm.mkdir()
    (llm / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    assert main(["distill", *MINE, "--out", out, "--student", str(llm), "--no-cache"]) == 2
    assert "a generative language model (LlamaForCausalLM), not an encoder" in (
        capsys.readouterr().err
    )
    assert main(["distill", *MINE, "--out", out, "--student", str(tmp_path), "--no-cache"]) == 2
    assert "not an encoder folder" in capsys.readouterr().err
    assert main(["distill", "--from-dataset", str(tmp_path), "--out", out]) == 2
    assert "not a distillation training set" in capsys.readouterr().err
    assert main(["distill", "--from-dataset", str(tmp_path), "--out", out, "--rounds", "2"]) == 2
    assert "--rounds needs the teacher" in capsys.readouterr().err
    missing = str(tmp_path / "nosuch.tsv")
    assert main(["distill", *MINE, "--out", out, "--no-cache", "--dev-queries", missing]) == 2
    assert "dev queries " in capsys.readouterr().err
    assert main(["distill", *MINE, "--out", out, "--no-cache", "--min-steps", "0"]) == 2
    assert "min_steps must be at least 1" in capsys.readouterr().err
    assert not Path(out).exists()


def test_a_judge_failing_midway_exits_1_and_the_rerun_resumes(
    demo: Dataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    real = judge_spec.make_judge
    calls = {"n": 0}

    def flaky(spec: str, qrels: object = None) -> object:
        judge = real(spec, qrels)  # type: ignore[arg-type]
        inner = judge.judge

        def judge_batch(prompts: list) -> list:  # type: ignore[type-arg]
            calls["n"] += 1
            if calls["n"] == 3:
                raise JudgeError("server down")
            return inner(prompts)

        judge.judge = judge_batch  # type: ignore[method-assign]
        return judge

    monkeypatch.setattr(judge_spec, "make_judge", flaky)
    cache, out = tmp_path / "cache.sqlite", tmp_path / "set"
    args = [
        "distill",
        *MINE,
        "--out",
        str(out),
        "--mine-only",
        "--cache",
        str(cache),
        "--batch-size",
        "20",
    ]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "judge failed: server down" in err and "rerun the same command to resume" in err
    assert "nothing was trained" in err and not out.exists()
    assert main(args) == 0
    printed = capsys.readouterr().out
    # 10 queries x 6 pairs x 2 orders = 120 prompts; the first run finished 2 batches of 20
    assert "120 pairs" not in printed and "60 pairs, 80 inferences" in printed


def test_orders_is_spelled_as_for_rerank(tmp_path: Path) -> None:
    """--orders one asks each mined pair once (half the inferences of --orders both, recorded in
    the set); the old --one-order/--both-orders spellings are refused, as for rerank."""
    counts = {}
    for orders in ("both", "one"):
        out = tmp_path / orders
        flags = ["--out", str(out), "--mine-only", "--no-cache", "--orders", orders]
        assert main(["distill", *MINE, *flags]) == 0
        info = load_training_set(out).info
        counts[orders] = (info.inferences, info.judged_pairs, info.both_orders)
    assert counts["both"][2] is True and counts["one"][2] is False
    assert counts["both"][1] == counts["one"][1] and counts["both"][0] == 2 * counts["one"][0]
    for old in ("--one-order", "--both-orders"):
        with pytest.raises(SystemExit) as refused:
            main(["distill", *MINE, "--out", str(tmp_path / "x"), "--mine-only", old])
        assert refused.value.code == 2


def test_orders_outside_both_and_one_are_refused_everywhere() -> None:
    from rankpipe import Reranker
    from rankpipe.compare.experiment import Configuration
    from rankpipe.distill.pipeline import MiningSettings
    from rankpipe.errors import InputError

    for make in (
        lambda: Reranker("sim", "heapsort", orders="twice"),  # type: ignore[arg-type]
        lambda: Configuration("heapsort", orders="twice"),  # type: ignore[arg-type]
        lambda: MiningSettings(orders="twice"),  # type: ignore[arg-type]
    ):
        with pytest.raises(InputError, match="orders must be one of both, one, got 'twice'"):
            make()
