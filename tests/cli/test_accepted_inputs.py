"""What is tolerated rather than refused: a UTF-8 byte order mark at the start of any input file;
what is refused on writing: identifiers that the TREC and TSV readers could not read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rankpipe.data.candidates import read_candidates, write_candidates
from rankpipe.data.corpus import read_corpus, write_corpus
from rankpipe.data.datasets import DEMO_DIR
from rankpipe.data.topics import read_topics, write_topics
from rankpipe.data.trec import read_qrels, read_run, write_qrels, write_run
from rankpipe.data.types import Candidate, Query, QueryCandidates, Ranking
from rankpipe.errors import InputError

BOM = "\ufeff"


@pytest.mark.parametrize(
    ("name", "read"),
    [
        ("run.bm25.trec", read_run),
        ("qrels.trec", read_qrels),
        ("topics.tsv", read_topics),
        ("corpus.tsv", read_corpus),
    ],
)
@pytest.mark.parametrize("gzipped", [False, True])
def test_a_leading_byte_order_mark_is_skipped(
    tmp_path: Path, name: str, read: object, gzipped: bool
) -> None:
    """A BOM used to glue itself to the first qid: the first qrels label was lost."""
    import gzip

    content = BOM.encode() + (DEMO_DIR / name).read_bytes()
    path = tmp_path / (f"{name}.gz" if gzipped else name)
    path.write_bytes(gzip.compress(content) if gzipped else content)
    assert read(path) == read(DEMO_DIR / name)  # type: ignore[operator]


def test_candidates_files_with_a_byte_order_mark(tmp_path: Path) -> None:
    record = {"query": "q", "qid": "q1", "hits": [{"docid": "d1", "content": "text"}]}
    (tmp_path / "c.jsonl").write_text(BOM + json.dumps(record) + "\n", encoding="utf-8")
    (tmp_path / "c.json").write_text(BOM + json.dumps([record]), encoding="utf-8")
    expected = [QueryCandidates(Query("q1", "q"), (Candidate("d1", "text", 0.0, 1),))]
    assert read_candidates(tmp_path / "c.jsonl") == read_candidates(tmp_path / "c.json") == expected


BAD_IDS = ["a b", "a\tb", "a\nq9 Q0 injected 1 9 t", "a\rb", "", "a\u00a0b", "a\ufeffb", "a\x00b"]


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_writers_refuse_identifiers_their_readers_could_not_read_back(
    tmp_path: Path, bad: str
) -> None:
    writes = [
        lambda p: write_run({bad: Ranking(bad, ("d1",))}, p),
        lambda p: write_run({"q1": Ranking("q1", ("d1", bad))}, p),
        lambda p: write_run({"q1": Ranking("q1", ("d1",))}, p, tag=bad),
        lambda p: write_qrels({"q1": {bad: 1}}, p),
        lambda p: write_topics([Query("q1", "x"), Query(bad, "y")], p),
        lambda p: write_corpus({"d1": "x", bad: "y"}, p),
        lambda p: write_candidates([QueryCandidates(Query(bad, "q"), ())], p),
    ]
    for number, write in enumerate(writes):
        path = tmp_path / f"out{number}.txt"
        with pytest.raises(InputError, match="identifiers cannot hold|is empty"):
            write(path)
        assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file


def test_writers_refuse_a_non_finite_score(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="score nan is not finite"):
        write_run({"q1": Ranking("q1", ("d1",), (float("nan"),))}, tmp_path / "run.trec")
    assert list(tmp_path.iterdir()) == []


def test_the_candidates_writer_refuses_what_its_reader_refuses(tmp_path: Path) -> None:
    items = [QueryCandidates(Query("q 1", "a\tquery"), (Candidate("d1", "x\ny", 1.5, 1),))]
    with pytest.raises(InputError, match="qid 'q 1' holds U\\+0020"):
        write_candidates(items, tmp_path / "c.jsonl")
    assert list(tmp_path.iterdir()) == []
