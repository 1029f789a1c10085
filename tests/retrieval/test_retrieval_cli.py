"""`rankpipe index` and `rankpipe retrieve` on the demo collection (BM25), and the refusal, with
exit 2, of corrupted, incomplete or foreign index folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rankpipe.cli.main import main
from rankpipe.data.corpus import read_corpus
from rankpipe.data.datasets import DEMO_DIR
from rankpipe.data.trec import read_run
from rankpipe.retrieval import lucene, read_manifest
from rankpipe.retrieval.index import MANIFEST, corpus_checksum

CORPUS = str(DEMO_DIR / "corpus.tsv")
TOPICS = str(DEMO_DIR / "topics.tsv")
QRELS = str(DEMO_DIR / "qrels.trec")


@pytest.fixture(scope="module")
def bm25s_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli") / "bm25s"
    assert index_demo(folder, "--kind", "bm25", "--engine", "bm25s") == 0
    return folder


def index_demo(out: Path, *options: str) -> int:
    """`rankpipe index` of the demo corpus into `out`."""
    return main(["index", "--corpus", CORPUS, *options, "--out", str(out)])


def copy_of(index: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(index, tmp_path / "copy"))


def retrieve(index: Path, output: Path, *extra: str) -> int:
    return main(
        [
            "retrieve",
            "--index",
            str(index),
            "--topics",
            TOPICS,
            "--k",
            "15",
            "--output",
            str(output),
            *extra,
        ]
    )


def test_index_and_retrieve_write_a_valid_run(
    bm25s_index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.trec"
    assert retrieve(bm25s_index, out, "--qrels", QRELS) == 0
    run = read_run(out)
    assert list(run) == [f"d{i}" for i in range(1, 11)]
    assert all(len(ranking) == 15 for ranking in run.values())
    fields = out.read_text().splitlines()[0].split()
    assert fields[:4] == ["d1", "Q0", "d1-p03", "1"] and fields[5] == "rankpipe-bm25-bm25s"
    printed = capsys.readouterr().out
    assert (
        "retrieved the top 15 of 200 passages (bm25, bm25s, k1=0.9 b=0.4) for 10 queries" in printed
    )
    assert "nDCG@10" in printed
    assert [p.name for p in tmp_path.iterdir()] == ["run.trec"]  # no temporary file left


def test_the_manifest_records_the_corpus_and_every_file(bm25s_index: Path) -> None:
    record = json.loads((bm25s_index / MANIFEST).read_text())
    assert record["format"] == 1 and record["kind"] == "bm25" and record["passages"] == 200
    assert record["corpus_sha256"] == corpus_checksum(read_corpus(CORPUS))
    files = {p.relative_to(bm25s_index).as_posix() for p in bm25s_index.rglob("*") if p.is_file()}
    assert set(record["files"]) == files - {MANIFEST}
    assert all(set(entry) == {"bytes", "sha256"} for entry in record["files"].values())


def test_retrieve_takes_the_queries_and_qrels_of_a_dataset(
    bm25s_index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.trec"
    assert (
        main(["retrieve", "--index", str(bm25s_index), "--dataset", "demo", "--output", str(out)])
        == 0
    )
    assert len(read_run(out)) == 10
    assert "R(rel=2)@100" in capsys.readouterr().out


def test_auto_engine_indexes_with_pyserini_when_java_runs(tmp_path: Path) -> None:
    reason = lucene.unavailable_reason()
    if reason:
        pytest.skip(f"pyserini/Java unavailable: {reason}")
    assert index_demo(tmp_path / "idx") == 0
    assert read_manifest(tmp_path / "idx").engine == "pyserini"
    assert retrieve(tmp_path / "idx", tmp_path / "run.trec") == 0
    assert read_run(tmp_path / "run.trec")["d1"].docids[0] == "d1-p03"


def test_a_corrupted_index_file_is_refused(
    bm25s_index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = copy_of(bm25s_index, tmp_path)
    with (index / "bm25s" / "data.csc.index.npy").open("r+b") as handle:
        handle.seek(200)
        handle.write(b"\x00\x01\x02\x03")
    out = tmp_path / "run.trec"
    out.write_text("an earlier run\n")
    assert retrieve(index, out) == 2
    err = capsys.readouterr().err
    assert "bm25s/data.csc.index.npy does not match its checksum; the index is corrupted" in err
    assert out.read_text() == "an earlier run\n"  # the output is written only on success


def test_a_missing_index_file_is_refused(
    bm25s_index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = copy_of(bm25s_index, tmp_path)
    (index / "docids.txt").unlink()
    assert retrieve(index, tmp_path / "run.trec") == 2
    assert "docids.txt is missing" in capsys.readouterr().err
    assert not (tmp_path / "run.trec").exists()


@pytest.mark.parametrize(
    "content", ["{not json", '{"format": 1, "kind": "bm25"}', "[]", '{"format": 99}']
)
def test_a_damaged_manifest_is_refused(
    bm25s_index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    index = copy_of(bm25s_index, tmp_path)
    (index / MANIFEST).write_text(content)
    assert retrieve(index, tmp_path / "run.trec") == 2
    err = capsys.readouterr().err
    assert "corrupted" in err or "format 99 is not the one" in err


def test_a_folder_that_is_not_an_index_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert retrieve(tmp_path, tmp_path / "run.trec") == 2
    assert f"index {tmp_path}: not a rankpipe index" in capsys.readouterr().err


def test_index_never_overwrites_a_foreign_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    assert index_demo(tmp_path, "--engine", "bm25s") == 2
    assert "is not a rankpipe index" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_rebuilding_replaces_an_index_and_leaves_no_staging_folder(
    bm25s_index: Path, tmp_path: Path
) -> None:
    index = copy_of(bm25s_index, tmp_path)
    assert index_demo(index, "--engine", "bm25s", "--k1", "1.2") == 0
    assert read_manifest(index).settings["k1"] == 1.2
    assert [p.name for p in tmp_path.iterdir()] == ["copy"]


def test_options_of_the_other_kind_are_refused(
    bm25s_index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert index_demo(tmp_path / "i", "--model", "x") == 2
    assert "--model: not options of a bm25 index" in capsys.readouterr().err
    assert index_demo(tmp_path / "i", "--kind", "dense", "--k1", "1") == 2
    assert "--k1: not options of a dense index" in capsys.readouterr().err
    assert (
        retrieve(
            bm25s_index, tmp_path / "run.trec", "--model", "sentence-transformers/all-MiniLM-L6-v2"
        )
        == 2
    )
    assert "a query encoder (--model) does not apply" in capsys.readouterr().err
