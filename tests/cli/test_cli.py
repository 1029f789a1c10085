"""CLI conventions: --help everywhere, exit 0 / 2 (bad input, one line) / 1 (internal error),
outputs never half-written; `evaluate` and `convert` end to end; where candidates come from."""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import rankpipe.cli.evaluate
from rankpipe.cli.inputs import add_candidate_arguments, load_candidates
from rankpipe.cli.main import build_parser, main
from rankpipe.data.candidates import read_candidates
from rankpipe.data.datasets import DEMO_DIR
from rankpipe.data.trec import read_qrels, read_run

DEMO_RUN, DEMO_QRELS = str(DEMO_DIR / "run.bm25.trec"), str(DEMO_DIR / "qrels.trec")
DEMO_CORPUS, DEMO_TOPICS = str(DEMO_DIR / "corpus.tsv"), str(DEMO_DIR / "topics.tsv")
DEMO_RUN_WITH_TEXTS = ("--run", DEMO_RUN, "--corpus", DEMO_CORPUS, "--topics", DEMO_TOPICS)


def _commands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from _commands(sub, (*prefix, name))


COMMANDS = list(_commands(build_parser()))


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_subcommand_is_listed() -> None:
    assert {"rerank", "evaluate", "convert", "cache", ("cache", "stats")} <= {
        c[0] if len(c) == 1 else c for c in COMMANDS
    }


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_works_for_every_subcommand(
    capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: rankpipe {' '.join(command)}")


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        [],
        ["evaluate", DEMO_RUN],
        ["convert", "--output", "x", "--depth", "ten"],
        ["nonsense"],
    ):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        assert "error:" in capsys.readouterr().err


def test_evaluate_dl19_bm25_and_tasb(capsys: pytest.CaptureFixture[str], shared_data: Path) -> None:
    bm25, tasb = (
        str(shared_data / "dl19" / name)
        for name in ("run.bm25.top100.trec", "run.d_bert_kd_tasb.top100.trec")
    )
    code, out, err = run_cli(
        capsys, "evaluate", bm25, "--qrels", str(shared_data / "dl19" / "qrels.txt")
    )
    assert code == 0 and err == ""
    header, row = out.splitlines()
    assert header.split()[1:] == ["nDCG@10", "RR(rel=2)@10", "AP(rel=2)@100", "R(rel=2)@100"]
    assert row.split()[:2] == [bm25, "0.5058"]

    code, out, _ = run_cli(
        capsys, "evaluate", bm25, tasb, "--qrels", str(shared_data / "dl19" / "qrels.txt"), "--json"
    )
    assert code == 0
    values = json.loads(out)
    assert list(values) == [bm25, tasb]
    assert list(values[bm25]) == ["nDCG@10", "RR(rel=2)@10", "AP(rel=2)@100", "R(rel=2)@100"]
    assert (round(values[bm25]["nDCG@10"], 4), round(values[tasb]["nDCG@10"], 4)) == (
        0.5058,
        0.7210,
    )


def test_evaluate_two_runs_prints_paired_tests_and_per_query_values(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    reversed_run = (
        tmp_path / "reversed.trec"
    )  # the demo BM25 run upside down: a clearly worse system
    reversed_run.write_text(
        "".join(
            f"{qid} Q0 {docid} {rank} {rank} rev\n"
            for qid, ranking in read_run(DEMO_RUN).items()
            for rank, docid in enumerate(ranking.docids, start=1)
        )
    )
    per_query = tmp_path / "out" / "per_query.csv"
    code, out, _ = run_cli(
        capsys,
        "evaluate",
        DEMO_RUN,
        str(reversed_run),
        "--qrels",
        DEMO_QRELS,
        "--metrics",
        "nDCG@10",
        "P@5",
        "--per-query",
        str(per_query),
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["run", "nDCG@10", "P@5"]
    assert lines[2].startswith(str(reversed_run)) and lines[2].split()[1].endswith("*")
    assert f"* p < 0.05 against {DEMO_RUN} (paired t-test, Holm-corrected per metric)" in lines
    assert sum(line.startswith(f"  {reversed_run}  ") for line in lines) == 2  # one test per metric
    with per_query.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 20 and {row["run"] for row in rows} == {DEMO_RUN, str(reversed_run)}
    assert list(rows[0]) == ["run", "qid", "nDCG@10", "P@5"]
    bm25_rows = [row for row in rows if row["run"] == DEMO_RUN]
    mean = sum(float(row["nDCG@10"]) for row in bm25_rows) / 10
    assert lines[1].split()[1] == f"{mean:.4f}"


def test_evaluate_reports_queries_missing_on_either_side(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    qrels = read_qrels(DEMO_QRELS)
    run = read_run(DEMO_RUN)
    first, second = list(run)[:2]
    partial = tmp_path / "partial.trec"  # the first query renamed (no qrels), the second dropped
    partial.write_text(
        "".join(
            f"{'unjudged' if qid == first else qid} Q0 {docid} {rank} {score} t\n"
            for qid, ranking in run.items()
            if qid != second
            for rank, (docid, score) in enumerate(
                zip(ranking.docids, ranking.scores, strict=True), start=1
            )
        )
    )
    code, out, err = run_cli(capsys, "evaluate", str(partial), "--qrels", DEMO_QRELS, "--json")
    assert code == 0
    assert err.splitlines() == [
        f"note: {partial}: 1 queries have no qrels and are not evaluated (unjudged)",
        f"note: {partial}: 2 judged queries are absent from the run and count as 0 "
        "(as ir-measures does)",
    ]
    assert len(qrels) == 10 and json.loads(out)[str(partial)]["nDCG@10"] > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["evaluate", DEMO_RUN, "--qrels", DEMO_QRELS, "--metrics", "nDCG@ten"],
            "unknown metric 'nDCG@ten'",
        ),
        (["evaluate", "no/such/run.trec", "--qrels", DEMO_QRELS], "no/such/run.trec: no such file"),
        (["evaluate", DEMO_RUN, "--qrels", DEMO_RUN], f"line 1 of {DEMO_RUN}: expected 4 fields"),
        (
            ["convert", "--candidates", DEMO_CORPUS, "--output", "{tmp}/x.trec"],
            f"line 1 of {DEMO_CORPUS}: invalid JSON",
        ),
        (
            ["convert", "--run", DEMO_RUN, "--output", "{tmp}/x.jsonl"],
            "--run needs --corpus FILE and --topics FILE",
        ),
        (["convert", "--output", "{tmp}/x.trec"], "give either --candidates FILE or --run RUN"),
    ],
    ids=[
        "metric",
        "missing-file",
        "malformed-qrels",
        "malformed-candidates",
        "no-corpus",
        "no-source",
    ],
)
def test_bad_input_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    code, out, err = run_cli(capsys, *(arg.format(tmp=tmp_path) for arg in argv))
    assert code == 2 and out == ""
    assert (
        err.count("\n") == 1 and err.startswith(f"rankpipe {argv[0]}: error: ") and message in err
    )
    assert list(tmp_path.iterdir()) == []


def test_malformed_and_empty_runs_exit_2_naming_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = tmp_path / "run.trec"
    run.write_text("q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 two t\n")
    assert run_cli(capsys, "evaluate", str(run), "--qrels", DEMO_QRELS) == (
        2,
        "",
        f"rankpipe evaluate: error: line 2 of {run}: score must be a number, got 'two'\n",
    )
    run.write_text("q1 Q0 d1 1 2.0 t\nq1 Q0 d1 2 1.0 t\n")
    assert run_cli(capsys, "evaluate", str(run), "--qrels", DEMO_QRELS) == (
        2,
        "",
        f"rankpipe evaluate: error: line 2 of {run}: docid d1 appears twice for query q1\n",
    )
    run.write_text("")
    assert run_cli(capsys, "evaluate", str(run), "--qrels", DEMO_QRELS) == (
        2,
        "",
        f"rankpipe evaluate: error: {run}: the run is empty\n",
    )


def test_run_docid_missing_from_the_corpus_names_the_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = read_run(DEMO_RUN)["d1"].docids[3]
    corpus = tmp_path / "corpus.tsv"
    lines = Path(DEMO_CORPUS).read_text().splitlines(keepends=True)
    corpus.write_text("".join(line for line in lines if not line.startswith(f"{missing}\t")))
    code, _, err = run_cli(
        capsys,
        "convert",
        "--run",
        DEMO_RUN,
        "--corpus",
        str(corpus),
        "--topics",
        DEMO_TOPICS,
        "--output",
        str(tmp_path / "out.jsonl"),
    )
    assert code == 2
    assert err == (
        f"rankpipe convert: error: docid {missing} (query d1) of the run is not in the corpus "
        f"(run {DEMO_RUN}, corpus {corpus}, topics {DEMO_TOPICS})\n"
    )
    assert not (tmp_path / "out.jsonl").exists()


def test_internal_error_exits_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("metric backend crashed")

    monkeypatch.setattr(rankpipe.cli.evaluate, "evaluate", broken)
    monkeypatch.delenv("RANKPIPE_DEBUG", raising=False)
    assert run_cli(capsys, "evaluate", DEMO_RUN, "--qrels", DEMO_QRELS) == (
        1,
        "",
        "rankpipe evaluate: internal error: RuntimeError: metric backend crashed\n",
    )


def test_failed_commands_leave_an_existing_output_untouched(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "out.trec"
    output.write_text("precious\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"query": "fleas", "hits": [{"qid": "1", "docid": "d1", "content": "x"}]}\n{"query": \n'
    )
    code, _, err = run_cli(capsys, "convert", "--candidates", str(bad), "--output", str(output))
    assert code == 2 and f"line 2 of {bad}: invalid JSON" in err

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)  # the write itself fails halfway
    code, _, err = run_cli(capsys, "convert", *DEMO_RUN_WITH_TEXTS, "--output", str(output))
    assert code == 1 and "No space left on device" in err
    code, _, _ = run_cli(
        capsys, "evaluate", DEMO_RUN, "--qrels", DEMO_QRELS, "--per-query", str(output)
    )
    assert code == 1
    assert output.read_text() == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "out.trec"]


def test_convert_round_trips_run_and_candidates(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    candidates, run, again = (
        tmp_path / "demo.jsonl",
        tmp_path / "demo.trec",
        tmp_path / "again.jsonl",
    )
    assert run_cli(capsys, "convert", *DEMO_RUN_WITH_TEXTS, "--output", str(candidates))[:2] == (
        0,
        f"wrote 10 queries to {candidates}\n",
    )
    assert run_cli(
        capsys, "convert", "--candidates", str(candidates), "--output", str(run), "--tag", "bm25"
    )[:2] == (0, f"wrote 200 lines for 10 queries to {run}\n")
    assert read_run(run) == read_run(DEMO_RUN)
    assert run.read_text().splitlines()[0].endswith(" bm25")
    assert (
        run_cli(
            capsys,
            "convert",
            "--run",
            str(run),
            "--corpus",
            DEMO_CORPUS,
            "--topics",
            DEMO_TOPICS,
            "--output",
            str(again),
        )[0]
        == 0
    )
    assert again.read_bytes() == candidates.read_bytes()
    assert (
        run_cli(
            capsys, "convert", "--candidates", str(candidates), "--depth", "3", "--output", str(run)
        )[0]
        == 0
    )
    assert [len(r) for r in read_run(run).values()] == [3] * 10


def test_convert_dl19_candidates_to_the_bm25_run(
    capsys: pytest.CaptureFixture[str], shared_data: Path, tmp_path: Path
) -> None:
    run = tmp_path / "bm25.trec.gz"
    code, _, _ = run_cli(
        capsys,
        "convert",
        "--candidates",
        str(shared_data / "dl19" / "bm25_top100.jsonl"),
        "--output",
        str(run),
    )
    assert code == 0
    assert read_run(run) == read_run(shared_data / "dl19" / "run.bm25.top100.trec")
    code, out, _ = run_cli(
        capsys, "evaluate", str(run), "--qrels", str(shared_data / "dl19" / "qrels.txt"), "--json"
    )
    assert code == 0 and round(json.loads(out)[str(run)]["nDCG@10"], 4) == 0.5058


def candidate_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_candidate_arguments(parser)
    return parser.parse_args(list(argv))


def test_candidates_come_from_a_run_with_texts_a_candidates_file_or_a_dataset(
    tmp_path: Path,
) -> None:
    from_run, qrels = load_candidates(candidate_args(*DEMO_RUN_WITH_TEXTS, "--qrels", DEMO_QRELS))
    assert qrels == read_qrels(DEMO_QRELS)
    assert main(["convert", *DEMO_RUN_WITH_TEXTS, "--output", str(tmp_path / "demo.jsonl")]) == 0
    from_file, no_qrels = load_candidates(
        candidate_args("--candidates", str(tmp_path / "demo.jsonl"))
    )
    from_dataset, dataset_qrels = load_candidates(candidate_args("--dataset", "demo"))
    assert from_run == from_file == from_dataset == read_candidates(tmp_path / "demo.jsonl")
    assert no_qrels is None and dataset_qrels == qrels
    shallow, _ = load_candidates(candidate_args("--dataset", "demo", "--depth", "4"))
    assert [len(item.candidates) for item in shallow] == [4] * 10


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [],
            "give exactly one of --candidates FILE, --run RUN (with --corpus, --topics), "
            "--dataset NAME",
        ),
        (["--dataset", "demo", "--candidates", "x.jsonl"], "give exactly one of"),
        (["--dataset", "nope"], "unknown dataset 'nope'"),
        (
            ["--run", DEMO_RUN, "--corpus", DEMO_CORPUS],
            "--run needs --corpus FILE and --topics FILE",
        ),
    ],
)
def test_bad_candidate_sources(argv: list[str], message: str) -> None:
    from rankpipe.errors import InputError

    with pytest.raises(InputError) as error:
        load_candidates(candidate_args(*argv))
    assert str(error.value).startswith(message)


def test_console_script(tmp_path: Path) -> None:
    """The real `rankpipe` entry point in a fresh process: exit codes and streams."""
    ok = subprocess.run(
        [sys.executable, "-m", "rankpipe", "evaluate", DEMO_RUN, "--qrels", DEMO_QRELS, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0 and ok.stderr == ""
    assert set(json.loads(ok.stdout)[DEMO_RUN]) == {
        "nDCG@10",
        "RR(rel=2)@10",
        "AP(rel=2)@100",
        "R(rel=2)@100",
    }
    missing = tmp_path / "missing.jsonl"
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "rankpipe",
            "convert",
            "--candidates",
            str(missing),
            "--output",
            str(tmp_path / "out.trec"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (bad.returncode, bad.stdout, bad.stderr) == (
        2,
        "",
        f"rankpipe convert: error: {missing}: no such file\n",
    )


def rerank_demo(tmp_path: Path, name: str, *extra: str) -> tuple[int, dict[str, float]]:
    """`rerank` on the demo collection with the sim judge; (exit code, ledger totals)."""
    output = tmp_path / f"{name}.trec"
    code = main(["rerank", "--dataset", "demo", "--judge", "sim:bias=0.3", "--output", str(output),
                 *extra])  # fmt: skip
    return code, json.loads((tmp_path / f"{name}.trec.cost.json").read_text())["total"]


def test_one_orders_flag_and_no_other_spelling(tmp_path: Path) -> None:
    runs = {}
    for name, flags in {"one": ("--orders", "one"), "both": ("--orders", "both")}.items():
        code, total = rerank_demo(tmp_path, name, "--no-cache", *flags)
        assert code == 0
        runs[name] = (
            (tmp_path / f"{name}.trec").read_text(),
            total["prompts"],
            total["comparisons"],
        )
    for old in ("--one-order", "--both-orders"):  # one name per concept: --orders
        with pytest.raises(SystemExit) as refused:
            main(["rerank", "--dataset", "demo", "--judge", "sim", "--output",
                  str(tmp_path / "x.trec"), old])  # fmt: skip
        assert refused.value.code == 2
    assert runs["both"][1] == 2 * runs["both"][2] and runs["one"][1] == runs["one"][2]


def test_reuse_reversed_is_an_opt_in(tmp_path: Path) -> None:
    """A cache filled by quickselect holds (b, a) answers heapsort could use for (a, b): only with
    --reuse-reversed does it use them (fewer inferences, output dependent on the cache)."""
    cache, copy = tmp_path / "cache.sqlite", tmp_path / "copy"
    one = ("--orders", "one")
    assert (
        rerank_demo(tmp_path, "fill", "--cache", str(cache), *one, "--strategy", "quickselect")[0]
        == 0
    )
    copy.mkdir()
    for part in tmp_path.glob("cache.sqlite*"):
        shutil.copy(part, copy / part.name)
    fresh = rerank_demo(tmp_path, "fresh", "--no-cache", *one)[1]
    own = rerank_demo(tmp_path, "own", "--cache", str(cache), *one)[1]
    assert (tmp_path / "own.trec").read_text() == (tmp_path / "fresh.trec").read_text()
    reused = rerank_demo(tmp_path, "reused", "--cache", str(copy / cache.name), *one,
                         "--reuse-reversed")[1]  # fmt: skip
    assert reused["inferences"] < own["inferences"] <= fresh["inferences"]


def test_quickselect_turning_into_all_pairs_is_announced(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert rerank_demo(tmp_path, "qs", "--no-cache", "--strategy", "quickselect")[0] == 0
    err = capsys.readouterr().err
    assert "note: quickselect orders 10 of 10 queries all-pairs" in err
    assert "1,900 comparisons, 3,800 prompts" in err
    assert rerank_demo(tmp_path, "qs5", "--no-cache", "--strategy", "quickselect",
                       "--top-k", "5")[0] == 0  # fmt: skip
    assert "all-pairs" not in capsys.readouterr().err  # 20 candidates > 2 x 5: a real selection


def test_run_and_ledger_are_written_both_or_neither(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rankpipe.cost import CostLedger

    def broken(self: CostLedger) -> dict[str, object]:
        raise RuntimeError("ledger broke")

    monkeypatch.setattr(CostLedger, "to_dict", broken)
    output = tmp_path / "run.trec"
    args = ["rerank", "--dataset", "demo", "--judge", "sim", "--no-cache", "--output", str(output)]
    assert main(args) == 1
    assert "ledger broke" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_partly_judged_queries_are_noted_with_counts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    qrels = tmp_path / "qrels.txt"
    lines = Path(DEMO_QRELS).read_text().splitlines(keepends=True)
    qrels.write_text("".join(line for line in lines if line.startswith("d1 ")))
    code, _ = rerank_demo(tmp_path, "part", "--no-cache", "--qrels", str(qrels), "--depth", "5")
    assert code == 0
    assert "note: 9 of 10 queries have no qrels; effectiveness is reported over the 1 judged" in (
        capsys.readouterr().err
    )


def test_help_loads_no_heavy_library() -> None:
    """`rankpipe --help` imports only the command table (its time is in eval/results/cli.md)."""
    probe = (
        "import sys\nfrom rankpipe.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('torch', 'transformers', 'pandas', 'ir_measures', 'numpy', 'sqlite3')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("usage: rankpipe")
    assert done.stderr.strip() == "[]"


def test_the_command_table_matches_what_the_modules_register() -> None:
    from rankpipe.cli.main import COMMANDS

    full = build_parser()
    listed = {
        choice.dest: choice.help
        for action in full._actions
        if isinstance(action, argparse._SubParsersAction)
        for choice in action._choices_actions
    }
    assert listed == {name: help_text for name, (_, help_text) in COMMANDS.items()}


def test_third_party_progress_bars_are_off_in_logs(tmp_path: Path) -> None:
    import huggingface_hub

    assert main(["evaluate", DEMO_RUN, "--qrels", DEMO_QRELS]) == 0  # stderr is not a terminal
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
    assert huggingface_hub.utils.are_progress_bars_disabled()
