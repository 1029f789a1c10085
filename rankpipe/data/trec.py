"""TREC run files (`qid Q0 docid rank score tag`) and qrels (`qid 0 docid grade`).

Readers are linear in the file: a run's duplicate docids are found with a set per query (a list
scan per line made a 1,000,000-line run take minutes)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path

from rankpipe.atomic import atomic_write
from rankpipe.data.textfile import check_identifier, numbered_lines, split_fields
from rankpipe.data.types import Qrels, Ranking, Run
from rankpipe.errors import InputError, line_error


def read_run(path: str | Path) -> Run:
    """Read a 6-column TREC run. Each query's entries are ordered by score, best first
    (ties keep file order), which is how trec_eval reads a run.

    Raises InputError on a malformed line, a score that is not a finite number, a duplicate docid
    within a query, or an empty file."""
    rows: dict[str, list[tuple[float, int, str]]] = {}
    seen: dict[str, set[str]] = {}
    for number, line in numbered_lines(path):
        fields = split_fields(path, number, line)
        if len(fields) != 6:
            raise line_error(
                path, number, f"expected 6 fields (qid Q0 docid rank score tag), got {len(fields)}"
            )
        qid, _, docid, rank, score, _ = fields
        try:
            int(rank)
        except ValueError:
            raise line_error(path, number, f"rank must be an integer, got {rank!r}") from None
        try:
            value = float(score)
        except ValueError:
            raise line_error(path, number, f"score must be a number, got {score!r}") from None
        if not math.isfinite(value):
            raise line_error(path, number, f"score must be a finite number, got {score!r}")
        docids = seen.setdefault(qid, set())
        if docid in docids:
            raise line_error(path, number, f"docid {docid} appears twice for query {qid}")
        docids.add(docid)
        rows.setdefault(qid, []).append((value, number, docid))
    if not rows:
        raise InputError(f"{path}: the run is empty")
    run: Run = {}
    for qid, entries in rows.items():
        entries.sort(key=lambda e: (-e[0], e[1]))
        run[qid] = Ranking(qid, tuple(d for _, _, d in entries), tuple(s for s, _, _ in entries))
    return run


def write_run(run: Mapping[str, Ranking], path: str | Path, tag: str = "rankpipe") -> None:
    """Write a 6-column TREC run atomically (ranks 1..n in the ranking's order).

    Raises InputError, writing nothing, when an identifier or the tag holds whitespace or a
    control character, or a score is not finite: the file could not be read back."""
    _check_run(run, tag)
    with atomic_write(path) as out:
        for line in _run_lines(run, tag):
            out.write(line)


def format_run(run: Mapping[str, Ranking], tag: str = "rankpipe") -> str:
    """The text `write_run` writes (for standard output), checked as it checks it."""
    _check_run(run, tag)
    return "".join(_run_lines(run, tag))


def _check_run(run: Mapping[str, Ranking], tag: str) -> None:
    check_identifier("run tag", tag)
    for qid, ranking in run.items():
        check_identifier("qid", qid)
        for docid, score in zip(ranking.docids, ranking.scores, strict=True):
            check_identifier(f"docid (query {qid})", docid)
            if not math.isfinite(score):
                raise InputError(f"query {qid}, docid {docid}: score {score} is not finite")


def _run_lines(run: Mapping[str, Ranking], tag: str) -> Iterator[str]:
    for qid, ranking in run.items():
        hits = zip(ranking.docids, ranking.scores, strict=True)
        for rank, (docid, score) in enumerate(hits, start=1):
            yield f"{qid} Q0 {docid} {rank} {float(score)!r} {tag}\n"


def read_qrels(path: str | Path) -> Qrels:
    """Read 4-column graded qrels; raises InputError on a malformed line or an empty file."""
    qrels: Qrels = {}
    for number, line in numbered_lines(path):
        fields = split_fields(path, number, line)
        if len(fields) != 4:
            raise line_error(
                path, number, f"expected 4 fields (qid iter docid grade), got {len(fields)}"
            )
        qid, _, docid, grade = fields
        try:
            label = int(grade)
        except ValueError:
            raise line_error(path, number, f"grade must be an integer, got {grade!r}") from None
        labels = qrels.setdefault(qid, {})
        if labels.get(docid, label) != label:
            raise line_error(
                path, number, f"docid {docid} of query {qid} is graded {labels[docid]} before"
            )
        labels[docid] = label
    if not qrels:
        raise InputError(f"{path}: the qrels file is empty")
    return qrels


def write_qrels(qrels: Mapping[str, Mapping[str, int]], path: str | Path) -> None:
    """Write 4-column qrels atomically; identifiers are checked as `write_run` checks them."""
    for qid, labels in qrels.items():
        check_identifier("qid", qid)
        for docid in labels:
            check_identifier(f"docid (query {qid})", docid)
    with atomic_write(path) as out:
        for qid, labels in qrels.items():
            for docid, grade in labels.items():
                out.write(f"{qid} 0 {docid} {grade}\n")
