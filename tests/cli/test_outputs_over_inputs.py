"""An output that is one of the command's inputs is refused before any work (exit 2, one line
naming both options and both paths), however the path is spelled: the same name, `./` in front,
a symbolic link, a hard link. The input is left byte for byte as it was. `--output -` writes the
run to standard output (rerank, with --cost) and is refused elsewhere."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from rankpipe.cli.main import main
from rankpipe.data.datasets import DEMO_DIR
from rankpipe.data.trec import read_run

SIM = ["--judge", "sim", "--strategy", "heapsort", "--top-k", "3", "--depth", "5"]


@pytest.fixture
def inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Path:
    """The demo's files copied into tmp_path/in, with links to them; the working folder is
    tmp_path (so `./in/...` spellings work)."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("run.bm25.trec", "qrels.trec", "corpus.tsv", "topics.tsv"):
        shutil.copy(DEMO_DIR / name, folder / name)
    (folder / "run-link.trec").symlink_to(folder / "run.bm25.trec")
    os.link(folder / "topics.tsv", folder / "topics-hardlink.tsv")
    monkeypatch.chdir(tmp_path)
    code = main(
        [
            "convert",
            "--run",
            "in/run.bm25.trec",
            "--corpus",
            "in/corpus.tsv",
            "--topics",
            "in/topics.tsv",
            "--depth",
            "5",
            "--output",
            "in/cands.jsonl",
        ]
    )
    assert code == 0
    capsys.readouterr()
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder)): p.read_bytes() for p in files}


RUN_TEXTS = ["--run", "in/run.bm25.trec", "--corpus", "in/corpus.tsv", "--topics", "in/topics.tsv"]
RERANK = ["rerank", *SIM, "--no-cache"]

CASES = {
    "rerank-output-is-the-run": (
        [*RERANK, *RUN_TEXTS, "--output", "in/run.bm25.trec"],
        ("--output in/run.bm25.trec", "input --run in/run.bm25.trec"),
    ),
    "rerank-output-is-the-run-spelt-with-dot": (
        [*RERANK, *RUN_TEXTS, "--output", "./in/run.bm25.trec"],
        ("--output ./in/run.bm25.trec", "input --run in/run.bm25.trec"),
    ),
    "rerank-output-is-the-run-through-a-symlink": (
        [*RERANK, *RUN_TEXTS, "--output", "in/run-link.trec"],
        ("--output in/run-link.trec", "input --run"),
    ),
    "rerank-output-is-the-topics-through-a-hard-link": (
        [*RERANK, *RUN_TEXTS, "--output", "in/topics-hardlink.tsv"],
        ("--output in/topics-hardlink.tsv", "input --topics in/topics.tsv"),
    ),
    "rerank-output-is-the-qrels": (
        [*RERANK, *RUN_TEXTS, "--qrels", "in/qrels.trec", "--output", "in/qrels.trec"],
        ("--output in/qrels.trec", "input --qrels"),
    ),
    "rerank-output-is-the-candidates": (
        [*RERANK, "--candidates", "in/cands.jsonl", "--output", "in/cands.jsonl"],
        ("--output in/cands.jsonl", "input --candidates"),
    ),
    "rerank-cost-is-the-corpus": (
        [*RERANK, *RUN_TEXTS, "--output", "out.trec", "--cost", "in/corpus.tsv"],
        ("--cost in/corpus.tsv", "input --corpus in/corpus.tsv"),
    ),
    "rerank-cache-is-the-candidates": (
        ["rerank", *SIM, "--candidates", "in/cands.jsonl", "--cache", "in/cands.jsonl"]
        + ["--output", "out.trec"],
        ("--cache in/cands.jsonl", "input --candidates"),
    ),
    "rerank-output-is-the-sim-judges-qrels": (
        ["rerank", "--judge", "sim:qrels=in/qrels.trec", "--no-cache", "--candidates"]
        + ["in/cands.jsonl", "--output", "in/qrels.trec"],
        ("--output in/qrels.trec", "input --judge qrels= in/qrels.trec"),
    ),
    "evaluate-per-query-is-the-run": (
        ["evaluate", "in/run.bm25.trec", "--qrels", "in/qrels.trec"]
        + ["--per-query", "in/run.bm25.trec"],
        ("--per-query in/run.bm25.trec", "input RUN in/run.bm25.trec"),
    ),
    "evaluate-per-query-is-the-qrels": (
        ["evaluate", "in/run.bm25.trec", "--qrels", "in/qrels.trec", "--per-query"]
        + ["./in/qrels.trec"],
        ("--per-query ./in/qrels.trec", "input --qrels in/qrels.trec"),
    ),
    "convert-output-is-the-candidates": (
        ["convert", "--candidates", "in/cands.jsonl", "--output", "in/cands.jsonl"],
        ("--output in/cands.jsonl", "input --candidates in/cands.jsonl"),
    ),
    "convert-output-is-the-corpus": (
        ["convert", *RUN_TEXTS, "--output", "in/corpus.tsv"],
        ("--output in/corpus.tsv", "input --corpus in/corpus.tsv"),
    ),
    "fuse-output-is-a-run": (
        ["fuse", "in/run.bm25.trec", "in/run-link.trec", "--output", "in/run.bm25.trec"],
        ("--output in/run.bm25.trec", "input RUN in/run.bm25.trec"),
    ),
    "retrieve-output-is-the-topics": (
        ["retrieve", "--index", "in", "--topics", "in/topics.tsv", "--output", "in/topics.tsv"],
        ("--output in/topics.tsv", "input --topics in/topics.tsv"),
    ),
    "compare-report-over-the-qrels": (
        ["compare", "--judge", "sim", "--candidates", "in/cands.jsonl", "--qrels"]
        + ["in/compare.csv", "--out", "in"],
        ("--out in", "input --qrels in/compare.csv"),
    ),
    "index-out-holds-the-corpus": (
        ["index", "--corpus", "in/corpus.tsv", "--out", "in"],
        ("--out in", "--corpus in/corpus.tsv"),
    ),
    "convert-output-to-stdout": (
        ["convert", "--candidates", "in/cands.jsonl", "--output", "-"],
        ("--output -", "cannot write to standard output"),
    ),
    "evaluate-per-query-to-stdout": (
        ["evaluate", "in/run.bm25.trec", "--qrels", "in/qrels.trec", "--per-query", "-"],
        ("--per-query -", "cannot write to standard output"),
    ),
    "rerank-to-stdout-without-cost": (
        [*RERANK, "--candidates", "in/cands.jsonl", "--output", "-"],
        ("--output -", "give --cost FILE"),
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_an_output_over_an_input_is_refused_and_the_input_kept(
    capsys: pytest.CaptureFixture[str], inputs: Path, name: str
) -> None:
    argv, expect = CASES[name]
    if name == "compare-report-over-the-qrels":
        shutil.copy(inputs / "qrels.trec", inputs / "compare.csv")
    before = _snapshot(inputs.parent)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"rankpipe {argv[0]}: error: ")
    for piece in expect:
        assert piece in err
    assert _snapshot(inputs.parent) == before


def test_the_cache_export_is_refused_over_the_cache(
    capsys: pytest.CaptureFixture[str], inputs: Path
) -> None:
    argv = [*RERANK[:-1], "--cache", "c.sqlite", "--candidates", "in/cands.jsonl"]
    assert main([*argv, "--qrels", "in/qrels.trec", "--output", "out.trec"]) == 0
    before = Path("c.sqlite").read_bytes()
    capsys.readouterr()
    code = main(["cache", "export", "--cache", "c.sqlite", "--out", "./c.sqlite"])
    err = capsys.readouterr().err
    assert code == 2 and "--out c.sqlite: the same file as the cache c.sqlite" in err
    assert Path("c.sqlite").read_bytes() == before
    assert main(["cache", "check", "--cache", "c.sqlite"]) == 0


def test_rerank_writes_the_run_to_stdout_and_speaks_on_stderr(
    capsys: pytest.CaptureFixture[str], inputs: Path
) -> None:
    argv = [*RERANK, "--candidates", "in/cands.jsonl", "--qrels", "in/qrels.trec"]
    argv += ["--cost", "cost.json"]
    assert main([*argv, "--output", "-"]) == 0
    out, err = capsys.readouterr()
    assert "reranked" in err and "wrote standard output and cost.json" in err
    assert "nDCG@10" in err and "nDCG@10" not in out
    assert main([*argv, "--output", "file.trec"]) == 0
    capsys.readouterr()
    assert out == Path("file.trec").read_text()
    assert len(read_run("file.trec")) == len(out.splitlines()) // 5
    assert not Path("-").exists() and not Path("-.cost.json").exists()
