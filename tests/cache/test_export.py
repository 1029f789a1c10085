"""`rankpipe cache export`: the judgments with identity and provenance as a Hugging Face Dataset
folder, Parquet or JSON lines, read back by `datasets`."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
from ask_rounds import AskRounds
from cache_helpers import AskSets, FakeSetJudge, TextJudge, queries

from rankpipe.cache import SQLiteCache
from rankpipe.cli.main import main
from rankpipe.executor import Executor


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """Two judges: 6 pairwise rows (one query, both orders of 3 pairs), 2 setwise rows."""
    path = tmp_path / "c.sqlite"
    with SQLiteCache(path) as stored:
        Executor(TextJudge(), cache=stored).run(
            queries(1, 4), AskRounds([[(0, 1), (2, 3), (0, 2)]]), 4
        )
        Executor(FakeSetJudge(), cache=stored).run(
            queries(1, 4), AskSets([(0, 1, 2), (3, 1)]), 4
        )
    return path


def _check(rows: list[dict]) -> None:
    assert len(rows) == 8
    by_kind = {kind: [r for r in rows if r["kind"] == kind] for kind in ("pair", "set")}
    pair = next(r for r in by_kind["pair"] if r["docids"] == ["d0", "d1"])
    assert pair["judge"] == "fake:text" and pair["qid"] == "q0" and pair["p_a"] == 1.0
    assert pair["valid"] and pair["prompt_tokens"] == 10 and pair["attempts"] == 1
    assert pair["probs"] is None and pair["order"] is None
    chosen = next(r for r in by_kind["set"] if r["docids"] == ["d0", "d1", "d2"])
    assert chosen["judge"] == "fake:set" and chosen["probs"] == [1.0, 0.0, 0.0]
    assert chosen["p_a"] is None or chosen["p_a"] != chosen["p_a"]  # None (or NaN in pandas)
    assert len({r["key"] for r in rows}) == 8


def test_export_as_a_dataset_round_trips_through_load_from_disk(
    cache: Path, tmp_path: Path
) -> None:
    out = tmp_path / "judgments"
    assert main(["cache", "export", "--cache", str(cache), "--out", str(out)]) == 0
    loaded = datasets.load_from_disk(str(out))
    _check(loaded.to_list())
    assert main(["cache", "export", "--cache", str(cache), "--out", str(out)]) == 0  # replaced


def test_export_as_parquet_round_trips_through_load_dataset(cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "judgments.parquet"
    assert main(["cache", "export", "--cache", str(cache), "--out", str(out)]) == 0
    loaded = datasets.load_dataset("parquet", data_files=str(out), split="train")
    _check(loaded.to_list())
    assert str(loaded.features["created"].dtype).startswith("timestamp")


def test_export_as_json_lines(cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "judgments.jsonl"
    assert (
        main(["cache", "export", "--cache", str(cache), "--out", str(out), "--format", "jsonl"])
        == 0
    )
    _check([json.loads(line) for line in out.read_text().splitlines()])


def test_export_refuses_a_folder_that_holds_something_else(
    cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main(["cache", "export", "--cache", str(cache), "--out", str(tmp_path / "mine")]) == 2
    assert "holds no saved Dataset" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    out = tmp_path / "x.parquet"
    assert (
        main(
            [
                "cache",
                "export",
                "--cache",
                str(cache),
                "--out",
                str(tmp_path / "mine"),
                "--format",
                "parquet",
            ]
        )
        == 2
    )
    assert not out.exists()
