"""Corpora: TSV (`docid<TAB>text`) or JSONL (`id`/`_id`/`docid` with `text`/`contents`, optional
`title`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from rankpipe.atomic import atomic_write
from rankpipe.data.textfile import check_identifier, identifier_problem, numbered_lines
from rankpipe.errors import InputError, line_error

ID_KEYS = ("docid", "_id", "id")
TEXT_KEYS = ("text", "contents")


def _is_jsonl(path: Path) -> bool:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return name.endswith((".jsonl", ".json"))


def read_corpus(path: str | Path) -> dict[str, str]:
    """docid -> passage text (a JSONL title is prepended to the text, separated by a blank line).

    Raises InputError naming the line for a passage without text (an empty, missing or null text
    field: a judge cannot compare nothing), a docid that cannot be written to a TREC run, a
    repeated docid, or an empty file."""
    path = Path(path)
    corpus: dict[str, str] = {}
    jsonl = _is_jsonl(path)
    for number, line in numbered_lines(path):
        docid, text = _parse_jsonl(path, number, line) if jsonl else _parse_tsv(path, number, line)
        problem = identifier_problem(docid)
        if problem:
            raise line_error(path, number, f"docid {docid!r} {problem}")
        if not text:
            raise line_error(path, number, f"passage {docid} has no text")
        if docid in corpus:
            raise line_error(path, number, f"docid {docid} appears twice")
        corpus[docid] = text
    if not corpus:
        raise InputError(f"{path}: the corpus is empty")
    return corpus


def _parse_tsv(path: Path, number: int, line: str) -> tuple[str, str]:
    fields = line.split("\t")
    if len(fields) < 2:
        raise line_error(path, number, "expected `docid<TAB>text`, found no tab")
    return fields[0].strip(), "\t".join(fields[1:]).strip()


def _parse_jsonl(path: Path, number: int, line: str) -> tuple[str, str]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise line_error(path, number, f"invalid JSON ({error.msg})") from None
    if not isinstance(record, dict):
        raise line_error(path, number, "expected a JSON object")
    docid = next((record[k] for k in ID_KEYS if k in record), None)
    text = next((record[k] for k in TEXT_KEYS if k in record), None)
    if docid is None or text is None:
        raise line_error(
            path, number, f"expected an id field {ID_KEYS} and a text field {TEXT_KEYS} (not null)"
        )
    if not isinstance(docid, (str, int)) or isinstance(docid, bool):
        raise line_error(path, number, f"the id must be a string or an integer, got {docid!r}")
    title = record.get("title")
    if not isinstance(text, str) or not isinstance(title, (str, type(None))):
        raise line_error(path, number, "the text and title must be strings")
    title = (title or "").strip()
    text = text.strip()
    return str(docid), f"{title}\n\n{text}" if title else text


def write_corpus(corpus: Mapping[str, str], path: str | Path) -> None:
    """Write TSV, or JSONL (`docid`, `text`) when the name ends in .jsonl; a docid holding
    whitespace is an InputError, and nothing is written."""
    path = Path(path)
    for docid in corpus:
        check_identifier("docid", docid)
    with atomic_write(path) as out:
        for docid, text in corpus.items():
            if _is_jsonl(path):
                out.write(json.dumps({"docid": docid, "text": text}, ensure_ascii=False) + "\n")
            else:
                out.write(f"{docid}\t{' '.join(text.split())}\n")
