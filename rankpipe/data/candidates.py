"""RankGPT-style candidate files: one query per JSONL line (or a JSON list of the same objects),
`{"query": ..., "hits": [{"qid", "docid", "rank", "score", "content"}, ...]}`; a record may also
carry its own `qid` (written by rankpipe, so that a query without hits keeps its id)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from rankpipe.atomic import atomic_write
from rankpipe.data.corpus import read_corpus
from rankpipe.data.textfile import check_identifier, identifier_problem, read_text
from rankpipe.data.topics import read_topics
from rankpipe.data.trec import read_run
from rankpipe.data.types import Candidate, Query, QueryCandidates, Run
from rankpipe.errors import InputError, line_error


def read_candidates(path: str | Path) -> list[QueryCandidates]:
    """Read a candidates file; hits are ordered by their rank field (file order on ties)."""
    items = []
    seen: dict[str, str] = {}
    for where, record in _records(path):
        item = _parse_record(where, record)
        first = seen.setdefault(item.query.qid, where)
        if first is not where:
            earlier = first.partition(" of ")[0]
            raise InputError(f"{where}: query {item.query.qid} appears twice (first at {earlier})")
        items.append(item)
    if not items:
        raise InputError(f"{path}: no queries")
    return items


def _records(path: str | Path) -> Iterator[tuple[str, Any]]:
    """(where, record) per query: `record N of PATH` in a JSON list, `line N of PATH` in JSONL."""
    text = read_text(path)
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as error:
            raise line_error(path, error.lineno, f"invalid JSON ({error.msg})") from None
        yield from ((f"record {i + 1} of {path}", record) for i, record in enumerate(records))
        return
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines: JSON keeps U+2028
        if not line.strip():
            continue
        try:
            yield f"line {number} of {path}", json.loads(line)
        except json.JSONDecodeError as error:
            raise line_error(path, number, f"invalid JSON ({error.msg})") from None


def _parse_record(where: str, record: Any) -> QueryCandidates:
    """One query's record. A hit without text (`content` missing, null, not a string, or blank) is
    refused rather than judged as an empty passage; ids must be writable to a TREC run."""
    if not isinstance(record, dict) or "query" not in record or "hits" not in record:
        raise InputError(f"{where}: expected an object with `query` and `hits`")
    hits = record["hits"]
    if not isinstance(hits, list):
        raise InputError(f"{where}: `hits` must be a list")
    qid = record.get("qid", hits[0].get("qid") if hits and isinstance(hits[0], dict) else None)
    if qid is None:
        raise InputError(f"{where}: no qid (give `qid` on the record or on its hits)")
    qid = _identifier(where, "qid", qid)
    if not isinstance(record["query"], str):
        raise InputError(f"{where}: query {qid}: `query` must be a string")
    if not record["query"].strip():
        raise InputError(f"{where}: query {qid} has no text")
    text = record["query"].strip()
    candidates = []
    for position, hit in enumerate(hits, start=1):
        if not isinstance(hit, dict) or "docid" not in hit or "content" not in hit:
            raise InputError(f"{where}: hit {position} needs `docid` and `content`")
        docid = _identifier(f"{where}: hit {position}", "docid", hit["docid"])
        content = hit["content"]
        if not isinstance(content, str) or not content.strip():
            raise InputError(
                f"{where}: hit {position} (docid {docid}) has no text "
                f"(`content` must be a non-empty string, got {json.dumps(content)[:40]})"
            )
        try:
            score = float(hit.get("score", 0.0))
            rank = int(hit.get("rank", position))
        except (TypeError, ValueError):
            raise InputError(f"{where}: hit {position} has a non-numeric score or rank") from None
        if not math.isfinite(score):
            raise InputError(f"{where}: hit {position} (docid {docid}) has score {score}")
        candidates.append(Candidate(docid, content, score, rank))
    candidates.sort(key=lambda c: c.rank)
    try:
        return QueryCandidates(Query(qid, text), tuple(candidates))
    except ValueError as error:
        raise InputError(f"{where}: {error}") from None


def _identifier(where: str, what: str, value: Any) -> str:
    """A qid or docid (a string, or an integer written as one) fit for a TREC run."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(f"{where}: {what} must be a string or an integer, got {value!r}")
    problem = identifier_problem(str(value))
    if problem:
        raise InputError(f"{where}: {what} {str(value)!r} {problem}")
    return str(value)


def write_candidates(items: Iterable[QueryCandidates], path: str | Path) -> None:
    """Write JSONL, one query a line; ids the reader would refuse (whitespace inside) are an
    InputError, and nothing is written."""
    items = list(items)
    for item in items:
        check_identifier("qid", item.query.qid)
        for c in item.candidates:
            check_identifier(f"docid (query {item.query.qid})", c.docid)
    with atomic_write(path) as out:
        for item in items:
            hits = [
                {
                    "qid": item.query.qid,
                    "docid": c.docid,
                    "rank": c.rank,
                    "score": c.score,
                    "content": c.text,
                }
                for c in item.candidates
            ]
            record = {"query": item.query.text, "qid": item.query.qid, "hits": hits}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def join_candidates(
    run: Run, corpus: Mapping[str, str], topics: Mapping[str, Query], depth: int | None = None
) -> list[QueryCandidates]:
    """Join a run with passage texts and query texts into candidate sets (top `depth` per query).

    Raises InputError naming the first run qid missing from the topics or docid missing from the
    corpus."""
    items = []
    for qid, ranking in run.items():
        if qid not in topics:
            raise InputError(f"query {qid} of the run is not in the topics")
        candidates = []
        hits = zip(ranking.docids, ranking.scores, strict=True)
        for rank, (docid, score) in enumerate(hits, start=1):
            if depth is not None and rank > depth:
                break
            if docid not in corpus:
                raise InputError(f"docid {docid} (query {qid}) of the run is not in the corpus")
            candidates.append(Candidate(docid, corpus[docid], score, rank))
        items.append(QueryCandidates(topics[qid], tuple(candidates)))
    return items


def join_files(
    run: str | Path, corpus: str | Path, topics: str | Path, depth: int | None = None
) -> list[QueryCandidates]:
    """Read a TREC run, its corpus and its topics, and join them (top `depth` per query); a join
    error names the three files."""
    ranking, passages, queries = read_run(run), read_corpus(corpus), read_topics(topics)
    try:
        return join_candidates(ranking, passages, queries, depth)
    except InputError as error:
        raise InputError(f"{error} (run {run}, corpus {corpus}, topics {topics})") from None
