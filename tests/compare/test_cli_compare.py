"""`rankpipe compare` and `rankpipe plan` end to end on the packaged demo collection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rankpipe.cli.main import main

DEMO = ["--dataset", "demo", "--judge", "sim:noise=0.1"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "cmp"
    code = main(
        [
            "compare",
            *DEMO,
            "--strategies",
            "sliding,quicksort",
            "--strategy",
            "sliding:passes=2,variant=odd-even",
            "--orders",
            "both,one",
            "--batch-sizes",
            "8,1,2",
            "--batch-size",
            "16",
            "--max-queries",
            "6",
            "--no-cache",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return out


def test_compare_writes_the_report_for_every_configuration(folder: Path) -> None:
    record = json.loads((folder / "compare.json").read_text())
    assert [c["label"] for c in record["configurations"]] == [
        "sliding",
        "sliding (one order)",
        "quicksort",
        "quicksort (one order)",
        "sliding:passes=2,variant=odd-even",
        "sliding:passes=2,variant=odd-even (one order)",
    ]
    assert (
        record["batch_sizes"] == [1, 2, 8] and record["batch_size"] == 16 and record["queries"] == 6
    )
    assert record["source"] == ["--dataset", "demo", "--depth", "100"]
    assert all(c["spend"]["judge_calls"] >= 0 for c in record["configurations"])
    assert (folder / "pareto.png").is_file() and (folder / "calls_by_batch_size.png").is_file()


def test_plan_prints_the_recommendation_and_the_command(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", str(folder), "--budget-prompts", "1000"]) == 0
    out = capsys.readouterr().out
    assert (
        "recommended:" in out
        and "rankpipe rerank --dataset demo --depth 100 --judge sim:noise=0.1" in out
    )
    assert "--batch-size 16" in out  # the batch size the comparison ran with


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["plan", "{missing}", "--budget-calls", "5"], "holds no comparison results"),
        (
            ["plan", "{folder}", "--budget-rounds", "0"],
            "no compared strategy fits 0 rounds per query; the cheapest is",
        ),
        (
            ["compare", *DEMO, "--strategies", "nosuch", "--out", "{missing}"],
            "unknown strategy 'nosuch'",
        ),
        (
            ["compare", *DEMO, "--strategies", "sliding", "--orders", "two", "--out", "{missing}"],
            "--orders",
        ),
        (
            ["compare", *DEMO, "--strategies", "sliding,sliding", "--out", "{missing}"],
            "given twice",
        ),
        (
            [
                "compare",
                *DEMO,
                "--strategies",
                "sliding",
                "--batch-sizes",
                "8,x",
                "--out",
                "{missing}",
            ],
            "--batch-sizes",
        ),
        (
            [
                "compare",
                "--dataset",
                "demo",
                "--qrels",
                "{missing}/q.txt",
                "--judge",
                "sim:",
                "--strategies",
                "sliding",
                "--out",
                "{missing}",
            ],
            "q.txt",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(
    arguments: list[str],
    message: str,
    folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    filled = [a.format(folder=folder, missing=tmp_path / "none") for a in arguments]
    assert main(filled) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
