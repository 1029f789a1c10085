"""Every bad input is exit 2 with one line naming the file and line (or the option) and what was
expected, and leaves nothing behind: no output, no cost ledger, no cache, no temporary file.

Each case runs `rankpipe.cli.main.main` in-process on small files in tmp_path with the sim judge;
a few run the real command in a fresh process. Cases by kind: TREC runs, qrels, topics, corpora
(TSV and JSONL), candidates (JSONL and JSON lists), CLI options, strategy specs, judge specs,
outputs."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rankpipe.cli.main import main
from rankpipe.data.datasets import DEMO_DIR

DEMO_RUN, DEMO_QRELS = str(DEMO_DIR / "run.bm25.trec"), str(DEMO_DIR / "qrels.trec")
DEMO_CORPUS, DEMO_TOPICS = str(DEMO_DIR / "corpus.tsv"), str(DEMO_DIR / "topics.tsv")
OUT = "{tmp}/out/run.trec"
RERANK = ["rerank", "--judge", "sim", "--strategy", "heapsort", "--no-cache", "--output", OUT]
DEMO = [*RERANK, "--dataset", "demo", "--depth", "6"]
RUN_LINE = "d1 Q0 d1-p03 1 7.5 bm25\n"
HIT = {"qid": "d1", "docid": "d1-p01", "rank": 1, "score": 2.0, "content": "sourdough starters"}


@dataclass(frozen=True)
class Case:
    argv: list[str]
    expect: tuple[str, ...]
    """Pieces the error line must hold ({tmp} is the test's folder): the file and line, or the
    option, and what was expected."""
    files: dict[str, str | bytes] = field(default_factory=dict)
    """Input files to create in {tmp}/in."""


def candidates(*records: object, name: str = "cands.jsonl") -> dict[str, str | bytes]:
    return {name: "".join(json.dumps(r) + "\n" for r in records)}


def jsonl_corpus(*records: object) -> dict[str, str | bytes]:
    return {"corpus.jsonl": "".join(json.dumps(r) + "\n" for r in records)}


def with_texts(corpus: str = DEMO_CORPUS, topics: str = DEMO_TOPICS, run: str = DEMO_RUN) -> list:
    return [*RERANK, "--run", run, "--corpus", corpus, "--topics", topics, "--depth", "4"]


RUN = "{tmp}/in/run.trec"
QRELS = "{tmp}/in/qrels.txt"
TOPICS = "{tmp}/in/topics.tsv"
CORPUS_TSV = "{tmp}/in/corpus.tsv"
CORPUS_JSONL = "{tmp}/in/corpus.jsonl"
CANDS = "{tmp}/in/cands.jsonl"
CANDS_JSON = "{tmp}/in/cands.json"


def bad_run(content: str | bytes, *expect: str) -> Case:
    return Case(["evaluate", RUN, "--qrels", DEMO_QRELS], (RUN, *expect), {"run.trec": content})


def bad_qrels(content: str | bytes, *expect: str) -> Case:
    return Case(["evaluate", DEMO_RUN, "--qrels", QRELS], (QRELS, *expect), {"qrels.txt": content})


def bad_topics(content: str | bytes, *expect: str) -> Case:
    return Case(with_texts(topics=TOPICS), (TOPICS, *expect), {"topics.tsv": content})


def bad_tsv_corpus(content: str | bytes, *expect: str) -> Case:
    return Case(with_texts(corpus=CORPUS_TSV), (CORPUS_TSV, *expect), {"corpus.tsv": content})


def bad_jsonl_corpus(*records: object, expect: tuple[str, ...]) -> Case:
    return Case(with_texts(corpus=CORPUS_JSONL), (CORPUS_JSONL, *expect), jsonl_corpus(*records))


def bad_candidates(*records: object, expect: tuple[str, ...]) -> Case:
    return Case([*RERANK, "--candidates", CANDS], (CANDS, *expect), candidates(*records))


def bad_option(*argv: str, expect: tuple[str, ...]) -> Case:
    return Case([*DEMO, *argv], expect)


def bad_strategy(spec: str, *expect: str) -> Case:
    return Case([*DEMO, "--strategy", spec], (f"strategy {spec!r}", *expect))


def bad_judge(spec: str, *expect: str) -> Case:
    return Case([*DEMO, "--judge", spec], ("judge", *expect))


def hit(**changes: object) -> dict[str, object]:
    return {**HIT, **changes}


def query(*hits: object, **fields: object) -> dict[str, object]:
    return {"query": "how does a sourdough starter work", "hits": list(hits), **fields}


CASES: dict[str, Case] = {
    # TREC runs
    "run-nan-score": bad_run("d1 Q0 a 1 nan t\n", "line 1", "finite number, got 'nan'"),
    "run-inf-score": bad_run(RUN_LINE + "d1 Q0 b 2 inf t\n", "line 2", "finite number"),
    "run-minus-inf-score": bad_run("d1 Q0 a 1 -Infinity t\n", "line 1", "finite number"),
    "run-word-score": bad_run("d1 Q0 a 1 high t\n", "line 1", "score must be a number"),
    "run-word-rank": bad_run("d1 Q0 a first 1.0 t\n", "line 1", "rank must be an integer"),
    "run-5-fields": bad_run(RUN_LINE + "d1 Q0 b 2 1.0\n", "line 2", "expected 6 fields"),
    "run-7-fields": bad_run("d1 Q0 a 1 1.0 t x\n", "line 1", "expected 6 fields", "got 7"),
    "run-duplicate-docid": bad_run(RUN_LINE * 2, "line 2", "appears twice"),
    "run-empty": bad_run("", "the run is empty"),
    "run-blank-lines": bad_run("\n \n\t\n", "the run is empty"),
    "run-no-break-space": bad_run(
        "d1 Q0\u00a0a 1 1.0 t\n", "line 1", "U+00A0 (NO-BREAK SPACE) at character 6"
    ),
    "run-bom-inside": bad_run(RUN_LINE + "\ufeffd1 Q0 b 2 1.0 t\n", "line 2", "U+FEFF"),
    "run-form-feed": bad_run("d1 Q0 a 1 1.0\x0ct\n", "line 1", "U+000C"),
    "run-vertical-tab": bad_run("d1 Q0 a\x0b1 1.0 t\n", "line 1", "U+000B"),
    "run-not-utf8": bad_run("d1 Q0 caf\xe9 1 1.0 t\n".encode("latin-1"), "not UTF-8"),
    "run-fake-gzip": Case(
        ["evaluate", "{tmp}/in/run.trec.gz", "--qrels", DEMO_QRELS],
        ("{tmp}/in/run.trec.gz", "cannot read it"),
        {"run.trec.gz": RUN_LINE},
    ),
    "run-truncated-gzip": Case(
        ["evaluate", "{tmp}/in/run.trec.gz", "--qrels", DEMO_QRELS],
        ("{tmp}/in/run.trec.gz", "cannot read it"),
        {"run.trec.gz": gzip.compress(RUN_LINE.encode() * 100)[:-30]},
    ),
    "run-missing": Case(["evaluate", RUN, "--qrels", DEMO_QRELS], (RUN, "no such file")),
    "run-is-a-directory": Case(
        ["evaluate", "{tmp}/in", "--qrels", DEMO_QRELS], ("{tmp}/in: is a directory",)
    ),
    "run-no-judged-query": bad_run(
        "x1 Q0 a 1 1.0 t\n", "none of the 1 queries", "qrels", "x1", "d1"
    ),
    "run-second-of-two": Case(
        ["evaluate", DEMO_RUN, RUN, "--qrels", DEMO_QRELS], (RUN, "line 1"), {"run.trec": "x\n"}
    ),
    "rerank-run-nan": Case(
        with_texts(run=RUN), (RUN, "line 1", "finite"), {"run.trec": "d1 Q0 d1-p03 1 NaN t\n"}
    ),
    "rerank-run-query-not-in-topics": Case(
        with_texts(run=RUN), ("query x9", "not in the topics", RUN), {"run.trec": "x9 Q0 a 1 1 t\n"}
    ),
    "rerank-run-docid-not-in-corpus": Case(
        with_texts(run=RUN), ("docid nope", "not in the corpus"), {"run.trec": "d1 Q0 nope 1 1 t\n"}
    ),
    "convert-run-bad-rank": Case(
        [
            "convert",
            "--run",
            RUN,
            "--corpus",
            DEMO_CORPUS,
            "--topics",
            DEMO_TOPICS,
            "--output",
            "{tmp}/out/c.jsonl",
        ],
        (RUN, "line 1", "rank must be an integer"),
        {"run.trec": "d1 Q0 d1-p03 one 1 t\n"},
    ),  # fmt: skip
    # qrels
    "qrels-3-fields": bad_qrels("d1 0 a 1\nd1 0 b\n", "line 2", "expected 4 fields"),
    "qrels-5-fields": bad_qrels("d1 0 a 1 x\n", "line 1", "expected 4 fields", "got 5"),
    "qrels-word-grade": bad_qrels("d1 0 a relevant\n", "line 1", "grade must be an integer"),
    "qrels-fractional-grade": bad_qrels("d1 0 a 1.5\n", "line 1", "grade must be an integer"),
    "qrels-empty": bad_qrels("", "the qrels file is empty"),
    "qrels-conflicting-grades": bad_qrels("d1 0 a 1\nd1 0 a 2\n", "line 2", "graded 1 before"),
    "qrels-no-break-space": bad_qrels("d1 0\u00a0a 1\n", "line 1", "U+00A0"),
    "qrels-not-utf8": bad_qrels(b"d1 0 caf\xe9 1\n", "not UTF-8"),
    "qrels-missing": Case(["evaluate", DEMO_RUN, "--qrels", QRELS], (QRELS, "no such file")),
    "qrels-cover-no-query": bad_qrels("x1 0 d1-p01 1\n", "none of the 10 queries", "x1"),
    "rerank-qrels-cover-no-query": Case(
        [*DEMO, "--qrels", QRELS],
        ("--qrels", "none of the 10 queries", "d1", "x1"),
        {"qrels.txt": "x1 0 a 1\n"},
    ),
    "rerank-qrels-malformed": Case(
        [*DEMO, "--qrels", QRELS], (QRELS, "line 1", "expected 4 fields"), {"qrels.txt": "d1 a\n"}
    ),
    # topics
    "topics-no-tab": bad_topics("d1 how does it work\n", "line 1", "expected 2 tab-separated"),
    "topics-three-fields": bad_topics("d1\tone\ttwo\n", "line 1", "got 3"),
    "topics-no-text": bad_topics("d1\t  \n", "line 1", "query d1 has no text"),
    "topics-repeated-qid": bad_topics("d1\ta\nd1\tb\n", "line 2", "query d1 appears twice"),
    "topics-empty": bad_topics("\n", "no topics"),
    "topics-qid-with-space": bad_topics("d 1\ttext\n", "line 1", "U+0020 (SPACE) at character 2"),
    "topics-qid-with-bom-inside": bad_topics("d1\ta\nd\ufeff2\tb\n", "line 2", "U+FEFF"),
    "topics-not-utf8": bad_topics(b"d1\tcaf\xe9\n", "not UTF-8"),
    "topics-missing": Case(with_texts(topics=TOPICS), (TOPICS, "no such file")),
    # corpus, TSV
    "corpus-tsv-no-tab": bad_tsv_corpus("d1-p01 some text\n", "line 1", "found no tab"),
    "corpus-tsv-docid-tab-no-text": bad_tsv_corpus("d1-p01\t\n", "line 1", "has no text"),
    "corpus-tsv-blank-text": bad_tsv_corpus("d1-p01\ta\nd1-p02\t   \n", "line 2", "has no text"),
    "corpus-tsv-duplicate": bad_tsv_corpus("d1-p01\ta\nd1-p01\tb\n", "line 2", "appears twice"),
    "corpus-tsv-empty": bad_tsv_corpus("", "the corpus is empty"),
    "corpus-tsv-docid-space": bad_tsv_corpus("d1 p01\ttext\n", "line 1", "U+0020"),
    "corpus-tsv-not-utf8": bad_tsv_corpus(b"d1-p01\tcaf\xe9\n", "not UTF-8"),
    # corpus, JSONL
    "corpus-jsonl-invalid": Case(
        with_texts(corpus=CORPUS_JSONL),
        (CORPUS_JSONL, "line 1", "invalid JSON"),
        {"corpus.jsonl": "{docid: 1}\n"},
    ),  # fmt: skip
    "corpus-jsonl-not-object": bad_jsonl_corpus(["d1", "t"], expect=("line 1", "a JSON object")),
    "corpus-jsonl-no-id": bad_jsonl_corpus({"text": "t"}, expect=("line 1", "an id field")),
    "corpus-jsonl-no-text": bad_jsonl_corpus({"docid": "a"}, expect=("line 1", "a text field")),
    "corpus-jsonl-null-text": bad_jsonl_corpus(
        {"docid": "a", "text": "ok"}, {"docid": "b", "text": None}, expect=("line 2", "not null")
    ),
    "corpus-jsonl-empty-text": bad_jsonl_corpus(
        {"docid": "a", "text": ""}, expect=("line 1", "passage a has no text")
    ),
    "corpus-jsonl-blank-text": bad_jsonl_corpus(
        {"_id": "a", "contents": " \n "}, expect=("line 1", "has no text")
    ),
    "corpus-jsonl-number-text": bad_jsonl_corpus(
        {"docid": "a", "text": 5}, expect=("line 1", "must be strings")
    ),
    "corpus-jsonl-null-id": bad_jsonl_corpus(
        {"docid": None, "text": "t"}, expect=("line 1", "an id field")
    ),
    "corpus-jsonl-list-id": bad_jsonl_corpus(
        {"id": ["a"], "text": "t"}, expect=("line 1", "string or an integer")
    ),
    "corpus-jsonl-number-title": bad_jsonl_corpus(
        {"docid": "a", "text": "t", "title": 3}, expect=("line 1", "must be strings")
    ),
    "corpus-jsonl-duplicate": bad_jsonl_corpus(
        {"docid": "a", "text": "t"}, {"docid": "a", "text": "u"}, expect=("line 2", "twice")
    ),
    "corpus-jsonl-id-space": bad_jsonl_corpus(
        {"docid": "a b", "text": "t"}, expect=("line 1", "'a b'", "U+0020")
    ),
    "corpus-jsonl-id-newline": bad_jsonl_corpus(
        {"docid": "a\nb", "text": "t"}, expect=("line 1", "U+000A")
    ),
    # candidates, JSONL
    "cands-invalid-json": Case(
        [*RERANK, "--candidates", CANDS],
        (CANDS, "line 2", "invalid JSON"),
        {"cands.jsonl": json.dumps(query(HIT)) + "\n{oops\n"},
    ),  # fmt: skip
    "cands-not-object": bad_candidates(query(HIT), [1, 2], expect=("line 2", "`query` and `hits`")),
    "cands-no-hits": bad_candidates({"query": "q"}, expect=("line 1", "`query` and `hits`")),
    "cands-hits-not-list": bad_candidates(
        {"query": "q", "hits": {}}, expect=("line 1", "`hits` must be a list")
    ),
    "cands-no-qid": bad_candidates(
        query({"docid": "a", "content": "t"}), expect=("line 1", "no qid")
    ),
    "cands-empty-query": bad_candidates(query(HIT, query=" "), expect=("line 1", "has no text")),
    "cands-null-query": bad_candidates(
        query(HIT, query=None), expect=("line 1", "`query` must be a string")
    ),
    "cands-hit-no-content": bad_candidates(
        query({"qid": "d1", "docid": "a"}), expect=("line 1", "hit 1 needs `docid` and `content`")
    ),
    "cands-hit-null-content": bad_candidates(
        query(HIT, hit(docid="b", content=None)), expect=("line 1", "hit 2 (docid b)", "null")
    ),
    "cands-hit-empty-content": bad_candidates(
        query(hit(content="")), expect=("line 1", "has no text", "non-empty string")
    ),
    "cands-hit-blank-content": bad_candidates(
        query(hit(content=" \t")), expect=("line 1", "has no text")
    ),
    "cands-hit-number-content": bad_candidates(query(hit(content=12)), expect=("line 1", "got 12")),
    "cands-hit-null-docid": bad_candidates(
        query(hit(docid=None)), expect=("line 1", "docid must be a string or an integer")
    ),
    "cands-hit-docid-space": bad_candidates(
        query(hit(docid="d1 p1")), expect=("line 1", "hit 1", "U+0020")
    ),
    "cands-hit-docid-newline": bad_candidates(
        query(hit(docid="d1\nq9 Q0 x 1 9 t")), expect=("line 1", "U+000A")
    ),
    "cands-qid-tab": bad_candidates(query(HIT, qid="d\t1"), expect=("line 1", "qid", "U+0009")),
    "cands-hit-nan-score": Case(
        [*RERANK, "--candidates", CANDS],
        (CANDS, "line 1", "score nan"),
        {"cands.jsonl": json.dumps(query(hit(score=float("nan")))) + "\n"},
    ),  # fmt: skip
    "cands-hit-infinite-score": Case(
        [*RERANK, "--candidates", CANDS],
        (CANDS, "line 1", "score inf"),
        {"cands.jsonl": json.dumps(query(hit(score=float("inf")))) + "\n"},
    ),  # fmt: skip
    "cands-hit-word-score": bad_candidates(
        query(hit(score="high")), expect=("line 1", "non-numeric score")
    ),
    "cands-hit-word-rank": bad_candidates(
        query(hit(rank="first")), expect=("line 1", "non-numeric score or rank")
    ),
    "cands-duplicate-docid": bad_candidates(query(HIT, HIT), expect=("line 1", "appears twice")),
    "cands-duplicate-query": bad_candidates(
        query(HIT), query(HIT), expect=("line 2 of", "query d1 appears twice (first at line 1)")
    ),
    "cands-duplicate-query-in-a-list": Case(
        [*RERANK, "--candidates", CANDS_JSON],
        ("record 3 of", "query d1 appears twice (first at record 1)"),
        {"cands.json": json.dumps([query(HIT), query(hit(qid="d2")), query(HIT)])},
    ),
    "cands-symlink-loop": Case(
        [*RERANK, "--candidates", "{tmp}/loop"], ("{tmp}/loop", "a loop of symbolic links")
    ),
    "cands-dangling-symlink": Case(
        [*RERANK, "--candidates", "{tmp}/dangling"],
        ("{tmp}/dangling: a symbolic link to {tmp}/nowhere, which does not exist",),
    ),
    "cands-empty": Case(
        [*RERANK, "--candidates", CANDS], (CANDS, "no queries"), {"cands.jsonl": ""}
    ),
    "cands-not-utf8": Case(
        [*RERANK, "--candidates", CANDS], (CANDS, "not UTF-8"), {"cands.jsonl": b'{"q\xe9": 1}\n'}
    ),
    "convert-cands-null-content": Case(
        ["convert", "--candidates", CANDS, "--output", OUT],
        (CANDS, "has no text"),
        candidates(query(hit(content=None))),
    ),  # fmt: skip
    # candidates, JSON list
    "cands-json-invalid": Case(
        [*RERANK, "--candidates", CANDS_JSON],
        (CANDS_JSON, "line 2", "invalid JSON"),
        {"cands.json": "[\n{]\n"},
    ),  # fmt: skip
    "cands-json-non-objects": Case(
        [*RERANK, "--candidates", CANDS_JSON],
        ("record 1 of", CANDS_JSON, "`query` and `hits`"),
        {"cands.json": "[1, 2]"},
    ),  # fmt: skip
    "cands-json-null-content": Case(
        [*RERANK, "--candidates", CANDS_JSON],
        ("record 2 of", "has no text"),
        {"cands.json": json.dumps([query(HIT), query(hit(content=None), qid="d2")])},
    ),  # fmt: skip
    "cands-json-empty-list": Case(
        [*RERANK, "--candidates", CANDS_JSON], (CANDS_JSON, "no queries"), {"cands.json": "[]"}
    ),
    # CLI options: counts, choices, sources
    "top-k-zero": bad_option("--top-k", "0", expect=("argument --top-k", "at least 1, got 0")),
    "top-k-negative": bad_option("--top-k", "-3", expect=("argument --top-k", "at least 1")),
    "top-k-word": bad_option("--top-k", "ten", expect=("argument --top-k", "an integer")),
    "batch-size-zero": bad_option("--batch-size", "0", expect=("argument --batch-size",)),
    "batch-size-negative": bad_option("--batch-size", "-8", expect=("argument --batch-size",)),
    "depth-zero": bad_option("--depth", "0", expect=("argument --depth", "at least 1")),
    "depth-negative": bad_option("--depth", "-1", expect=("argument --depth",)),
    "depth-fraction": bad_option("--depth", "2.5", expect=("argument --depth", "'2.5'")),
    "orders-unknown": bad_option("--orders", "three", expect=("argument --orders", "invalid")),
    "reuse-reversed-both-orders": bad_option(
        "--reuse-reversed", expect=("--reuse-reversed", "--orders one")
    ),
    "tag-with-space": bad_option("--tag", "my run", expect=("--tag", "U+0020")),
    "no-source": Case(RERANK, ("give exactly one of",)),
    "two-sources": bad_option("--candidates", CANDS, expect=("give exactly one of",)),
    "run-without-topics": Case(
        [*RERANK, "--run", DEMO_RUN, "--corpus", DEMO_CORPUS], ("--run needs --corpus",)
    ),
    "unknown-dataset": Case([*RERANK, "--dataset", "nope"], ("unknown dataset 'nope'",)),
    "convert-depth-zero": Case(
        ["convert", "--candidates", CANDS, "--depth", "0", "--output", OUT],
        ("argument --depth", "at least 1"),
    ),
    "convert-no-source": Case(["convert", "--output", OUT], ("give either",)),
    "evaluate-unknown-metric": Case(
        ["evaluate", DEMO_RUN, "--qrels", DEMO_QRELS, "--metrics", "nDCG@ten"],
        ("unknown metric 'nDCG@ten'",),
    ),
    "retrieve-k-zero": Case(
        ["retrieve", "--index", "{tmp}/in", "--topics", DEMO_TOPICS, "--k", "0", "--output", OUT],
        ("argument --k", "at least 1"),
    ),
    "fuse-one-run": Case(["fuse", DEMO_RUN, "--output", OUT], ("two or more runs",)),
    "fuse-top-zero": Case(
        ["fuse", DEMO_RUN, DEMO_RUN, "--top", "0", "--output", OUT], ("argument --top",)
    ),
    "fuse-rrf-k-negative": Case(
        ["fuse", DEMO_RUN, DEMO_RUN, "--rrf-k", "-1", "--output", OUT], ("argument --rrf-k",)
    ),
    "fuse-depth-zero": Case(
        ["fuse", DEMO_RUN, DEMO_RUN, "--depth", "0", "--output", OUT], ("argument --depth",)
    ),
    "index-b-above-one": Case(
        ["index", "--corpus", DEMO_CORPUS, "--b", "1.5", "--out", "{tmp}/out/index"],
        ("argument --b", "at most 1"),
    ),
    "index-k1-nan": Case(
        ["index", "--corpus", DEMO_CORPUS, "--k1", "nan", "--out", "{tmp}/out/index"],
        ("argument --k1", "finite"),
    ),
    "index-batch-size-zero": Case(
        [
            "index",
            "--corpus",
            DEMO_CORPUS,
            "--kind",
            "dense",
            "--batch-size",
            "0",
            "--out",
            "{tmp}/out/index",
        ],
        ("argument --batch-size",),
    ),  # fmt: skip
    # strategy specs
    "strategy-unknown": bad_strategy("bogosort", "unknown strategy 'bogosort'"),
    "strategy-unknown-option": bad_strategy("heapsort:arity=2", "'arity=2' is not an option"),
    "strategy-option-without-value": bad_strategy("sliding:passes", "is not an option"),
    "strategy-bad-int": bad_strategy("sliding:passes=many", "passes='many'", "not a valid int"),
    "strategy-float-for-int": bad_strategy("sliding:passes=1.5", "not a valid int"),
    "strategy-nan-float": bad_strategy("sparse:per_candidate=nan", "finite"),
    "strategy-inf-float": bad_strategy("sparse:per_candidate=inf", "finite"),
    "strategy-bad-bool": bad_strategy("mergesort:full=maybe", "not a valid bool"),
    "strategy-bad-choice": bad_strategy("allpairs:agg=max", "must be one of"),
    "strategy-unknown-aggregator": bad_strategy("sparse:agg=median", "median"),
    "strategy-repeated-option": bad_strategy("sliding:passes=1,passes=2", "given twice"),
    "strategy-invalid-value": bad_strategy("quicksort:pivots=0", "pivots"),
    # judge specs
    "judge-unknown-backend": bad_judge("nope:model", "unknown backend 'nope'"),
    "judge-sim-latency-negative": bad_judge("sim:latency=-1", "latency='-1'", "at least 0"),
    "judge-sim-latency-inf": bad_judge("sim:latency=inf", "latency='inf'", "finite"),
    "judge-sim-latency-nan": bad_judge("sim:latency=nan", "finite"),
    "judge-sim-noise-above-one": bad_judge("sim:noise=2", "noise must lie in [0, 1]"),
    "judge-sim-noise-negative": bad_judge("sim:noise=-0.1", "noise='-0.1'"),
    "judge-sim-noise-word": bad_judge("sim:noise=high", "not a valid float"),
    "judge-sim-bias-nan": bad_judge("sim:bias=nan", "bias='nan'", "finite"),
    "judge-sim-seed-fraction": bad_judge("sim:seed=1.5", "seed='1.5'", "not a valid int"),
    "judge-sim-unknown-option": bad_judge("sim:temperature=1", "unknown option(s) temperature"),
    "judge-sim-repeated-option": bad_judge("sim:noise=0.1,noise=0.2", "noise is given twice"),
    "judge-sim-empty-option-name": bad_judge("sim:=3", "names no option"),
    "judge-sim-target": bad_judge("sim:model", "sim takes options only"),
    "judge-sim-missing-qrels": bad_judge("sim:qrels={tmp}/in/none.txt", "none.txt: no such file"),
    "judge-sim-malformed-qrels": Case(
        [*DEMO, "--judge", "sim:qrels={tmp}/in/q.txt"],
        ("{tmp}/in/q.txt", "line 1"),
        {"q.txt": "d1 0 a\n"},
    ),  # fmt: skip
    "judge-stray-item": bad_judge("sim:noise=0.1,loud", "expected key=value, got 'loud'"),
    "judge-embed-no-model": bad_judge("embed:", "embed needs a model"),
    "judge-embed-negative-temperature": bad_judge(
        "embed:sentence-transformers/all-MiniLM-L6-v2,temperature=-1", "temperature='-1'"
    ),
    "judge-embed-unknown-option": bad_judge(
        "embed:sentence-transformers/all-MiniLM-L6-v2,beam=4", "unknown option(s) beam"
    ),
    "judge-openai-timeout-nan": bad_judge("openai:m@http://127.0.0.1:9/v1,timeout=nan", "finite"),
    "judge-openai-retries-negative": bad_judge(
        "openai:m@http://127.0.0.1:9/v1,retries=-2", "retries='-2'", "at least 0"
    ),
    "judge-openai-concurrency-zero": bad_judge(
        "openai:m@http://127.0.0.1:9/v1,concurrency=0", "concurrency='0'", "at least 1"
    ),
    # outputs: checked before anything is judged
    "output-is-a-directory": Case(
        [*DEMO[:-5], "{tmp}/in", "--dataset", "demo"], ("--output {tmp}/in", "is a directory")
    ),
    "output-parent-is-a-file": Case(
        [*DEMO[:-5], "{tmp}/in/f/run.trec", "--dataset", "demo"],
        ("--output {tmp}/in/f/run.trec", "{tmp}/in/f is not a directory"),
        {"f": "a file"},
    ),
    "output-unwritable": Case(
        [*DEMO[:-5], "/proc/rankpipe/run.trec", "--dataset", "demo"],
        ("--output /proc/rankpipe/run.trec", "cannot write in /proc"),
    ),
    "cost-is-a-directory": bad_option("--cost", "{tmp}/in", expect=("--cost {tmp}/in",)),
    "cost-parent-is-a-file": Case(
        [*DEMO, "--cost", "{tmp}/in/f/cost.json"], ("--cost", "is not a directory"), {"f": "x"}
    ),
    "cost-same-as-output": bad_option("--cost", OUT, expect=("--cost", "same file as --output")),
    "cache-is-a-directory": Case(
        [*RERANK[:-3], "--cache", "{tmp}/in", "--output", OUT, "--dataset", "demo"],
        ("--cache {tmp}/in", "is a directory"),
    ),
    "cache-parent-is-a-file": Case(
        [*RERANK[:-3], "--cache", "{tmp}/in/f/c.sqlite", "--output", OUT, "--dataset", "demo"],
        ("--cache", "is not a directory"),
        {"f": "x"},
    ),
    "cache-with-bad-judge": Case(
        [
            *RERANK[:-3],
            "--cache",
            "{tmp}/out/c.sqlite",
            "--output",
            OUT,
            "--dataset",
            "demo",
            "--judge",
            "sim:noise=9",
        ],
        ("noise must lie in [0, 1]",),
    ),  # fmt: skip
    "convert-output-is-a-directory": Case(
        ["convert", "--candidates", CANDS, "--output", "{tmp}/in"], ("--output", "is a directory")
    ),
    "evaluate-per-query-is-a-directory": Case(
        ["evaluate", DEMO_RUN, "--qrels", DEMO_QRELS, "--per-query", "{tmp}/in"],
        ("--per-query {tmp}/in", "is a directory"),
    ),
    "fuse-output-is-a-directory": Case(
        ["fuse", DEMO_RUN, DEMO_RUN, "--output", "{tmp}/in"], ("--output", "is a directory")
    ),
    "index-out-is-a-file": Case(
        ["index", "--corpus", DEMO_CORPUS, "--out", "{tmp}/in/f"],
        ("--out", "is not a directory"),
        {"f": "x"},
    ),  # fmt: skip
}


def _files(folder: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_exits_2_naming_what_is_wrong_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: Case
) -> None:
    (tmp_path / "in").mkdir()
    for name, content in case.files.items():
        path = tmp_path / "in" / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    before = _files(tmp_path)
    argv = [arg.format(tmp=tmp_path) for arg in case.argv]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse refused an option value before anything ran
        code = exit_.code  # type: ignore[assignment]
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    line = err.rstrip("\n").split("\n")[-1]
    assert line.startswith(f"rankpipe {argv[0]}: error: ")
    assert err.count("\n") == 1  # argparse's refusals too: no usage block before the message
    for piece in case.expect:
        assert piece.format(tmp=tmp_path) in line
    assert _files(tmp_path) == before  # no output, ledger, cache or temporary file


def test_the_suite_covers_at_least_100_cases_of_every_kind() -> None:
    kinds = {name.split("-")[0] for name in CASES}
    assert len(CASES) >= 100
    assert {"run", "qrels", "topics", "corpus", "cands", "strategy", "judge", "output"} <= kinds


SUBPROCESS_CASES = [
    "run-nan-score",
    "top-k-zero",
    "judge-sim-latency-negative",
    "cost-is-a-directory",
]


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_the_real_command_exits_2_too(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    (tmp_path / "in").mkdir()
    for file, content in case.files.items():
        path = tmp_path / "in" / file
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = _files(tmp_path)
    argv = [arg.format(tmp=tmp_path) for arg in case.argv]
    done = subprocess.run(
        [sys.executable, "-m", "rankpipe", *argv], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and done.stdout == ""
    assert all(piece.format(tmp=tmp_path) in done.stderr for piece in case.expect)
    assert _files(tmp_path) == before
