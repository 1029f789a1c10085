"""Topics: TSV files of `qid<TAB>query text`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rankpipe.atomic import atomic_write
from rankpipe.data.textfile import check_identifier, identifier_problem, numbered_lines
from rankpipe.data.types import Query
from rankpipe.errors import InputError, line_error


def read_topics(path: str | Path) -> dict[str, Query]:
    """qid -> Query, in file order. Raises InputError on a malformed line, an empty query,
    a repeated qid or an empty file."""
    topics: dict[str, Query] = {}
    for number, line in numbered_lines(path):
        fields = line.split("\t")
        if len(fields) != 2:
            raise line_error(
                path, number, f"expected 2 tab-separated fields (qid, text), got {len(fields)}"
            )
        qid, text = fields[0].strip(), fields[1].strip()
        problem = identifier_problem(qid)
        if problem:
            raise line_error(path, number, f"qid {qid!r} {problem}")
        if not text:
            raise line_error(path, number, f"query {qid} has no text")
        if qid in topics:
            raise line_error(path, number, f"query {qid} appears twice")
        topics[qid] = Query(qid, text)
    if not topics:
        raise InputError(f"{path}: no topics")
    return topics


def write_topics(queries: Iterable[Query], path: str | Path) -> None:
    """Write `qid<TAB>text` lines; whitespace runs in a text (tabs, newlines) become one space; a
    qid holding whitespace is an InputError, and nothing is written."""
    queries = list(queries)
    for q in queries:
        check_identifier("qid", q.qid)
    with atomic_write(path) as out:
        for q in queries:
            out.write(f"{q.qid}\t{' '.join(q.text.split())}\n")
