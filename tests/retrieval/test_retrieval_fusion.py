"""Reciprocal rank fusion on hand-made runs, through the function and `rankpipe fuse`."""

from __future__ import annotations

from pathlib import Path

import pytest

from rankpipe.cli.main import main
from rankpipe.data.trec import read_run, write_run
from rankpipe.data.types import Ranking
from rankpipe.errors import InputError
from rankpipe.retrieval import reciprocal_rank_fusion

RUN_A = {
    "q1": Ranking.from_order("q1", ["d1", "d2", "d3"]),
    "q2": Ranking.from_order("q2", ["a", "b"]),
}
RUN_B = {
    "q1": Ranking.from_order("q1", ["d3", "d1", "d4"]),
    "q2": Ranking.from_order("q2", ["b", "a"]),
    "q3": Ranking.from_order("q3", ["x"]),
}


def test_fused_scores_are_sums_of_reciprocal_ranks() -> None:
    fused = reciprocal_rank_fusion([RUN_A, RUN_B])
    assert list(fused) == ["q1", "q2", "q3"]
    q1 = fused["q1"]
    assert q1.docids == ("d1", "d3", "d2", "d4")
    assert q1.scores == pytest.approx([1 / 61 + 1 / 62, 1 / 63 + 1 / 61, 1 / 62, 1 / 63])
    assert fused["q3"].docids == ("x",) and fused["q3"].scores == pytest.approx([1 / 61])


def test_ties_are_broken_by_docid_descending_as_trec_eval_does() -> None:
    q2 = reciprocal_rank_fusion([RUN_A, RUN_B])["q2"]
    assert q2.scores[0] == q2.scores[1]
    assert q2.docids == ("b", "a")


def test_k_depth_and_top() -> None:
    fused = reciprocal_rank_fusion([RUN_A, RUN_B], k=0, depth=1, top=1)
    assert fused["q1"].docids == ("d3",)  # d1 and d3 both score 1/1; docid descending puts d3 first
    fused = reciprocal_rank_fusion([RUN_A, RUN_B], k=0, depth=2)
    # depth 2: d1 = 1/1 + 1/2, d3 = 1/1 (B only; A ranks it 3rd), d2 = 1/2
    assert fused["q1"].docids == ("d1", "d3", "d2")
    assert fused["q1"].scores == pytest.approx([1.5, 1.0, 0.5])
    with pytest.raises(InputError, match="depth must be at least 1"):
        reciprocal_rank_fusion([RUN_A], depth=0)


def test_rankpipe_fuse_writes_the_fused_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_run(RUN_A, tmp_path / "a.trec")
    write_run(RUN_B, tmp_path / "b.trec")
    out = tmp_path / "fused.trec"
    assert (
        main(["fuse", str(tmp_path / "a.trec"), str(tmp_path / "b.trec"), "--output", str(out)])
        == 0
    )
    fused = read_run(out)
    assert fused["q1"].docids == ("d1", "d3", "d2", "d4")
    assert fused["q2"].docids == ("b", "a")
    assert "fused 2 runs (3 queries)" in capsys.readouterr().out
    lines = out.read_text().splitlines()
    assert lines[0].split() == ["q1", "Q0", "d1", "1", repr(1 / 61 + 1 / 62), "rankpipe-rrf"]


def test_rankpipe_fuse_needs_two_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_run(RUN_A, tmp_path / "a.trec")
    assert main(["fuse", str(tmp_path / "a.trec"), "--output", str(tmp_path / "f.trec")]) == 2
    assert "two or more runs" in capsys.readouterr().err
    assert not (tmp_path / "f.trec").exists()
