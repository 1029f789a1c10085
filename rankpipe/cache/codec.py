"""The on-disk format: the schema, and one codec per request form that turns its judgment into a
row's answer columns and back.

Schema 2, marked by `PRAGMA application_id` and `PRAGMA user_version` and checked on open:

| table.column | meaning |
|---|---|
| judges.id, judges.identity | each judge identity once |
| judgments.key | the prompt's digest (BLOB, primary key; `keys.prompt_key`) |
| judgments.judge | judges.id of the judge that answered |
| judgments.kind | the request form: "pair", "block" or "set" |
| judgments.qid, judgments.docids | provenance: the query and the docids shown, in order (JSON) |
| judgments.answer | by the form's codec: pair P(a > b) (REAL); block positions; set probabilities |
| judgments.prompt_tokens, completion_tokens | the inference's token usage |
| judgments.valid | 0 when the model's answer was unusable (scored 0.5, or uniform) |
| judgments.repairs | identifiers a listwise parser had to fix |
| judgments.attempts | how often the prompt was asked (an invalid answer is asked again) |
| judgments.created | Unix time of the answer |
| judgments.checksum | BLAKE2b of the row's other fields and its judge's identity (keys.py) |

`CODECS` has one row per form of `rankpipe.forms.FORMS`, keyed by the form's name: a new form is
one more codec here (its answer in a row, back, what makes it sound, and its column in the
judgments frame); nothing else in the cache names a form."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

from rankpipe.cache.keys import row_checksum
from rankpipe.forms import FORMS, Form
from rankpipe.judges.base import BlockJudgment, Judgment, SetJudgment

SCHEMA_VERSION = 2
APPLICATION_ID = 0x726B7063  # "rkpc"
COLUMNS = (
    "key, judge, kind, qid, docids, answer, prompt_tokens, completion_tokens, valid, repairs, "
    "attempts, created, checksum"
)
SCHEMA = f"""
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS judges (id INTEGER PRIMARY KEY, identity TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS judgments (
    key BLOB PRIMARY KEY, judge INTEGER NOT NULL, kind TEXT NOT NULL, qid TEXT NOT NULL,
    docids TEXT NOT NULL, answer NOT NULL, prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL, valid INTEGER NOT NULL, repairs INTEGER NOT NULL,
    attempts INTEGER NOT NULL, created REAL NOT NULL, checksum INTEGER NOT NULL
) WITHOUT ROWID;
PRAGMA application_id = {APPLICATION_ID};
PRAGMA user_version = {SCHEMA_VERSION};
COMMIT;
"""
Row = tuple[bytes, int, str, str, str, object, int, int, int, int, int, float, int]

AnyJudgment = Judgment | BlockJudgment | SetJudgment


@dataclass(frozen=True)
class Entry:
    """One stored inference with its provenance: `docids` shown in order, and how often asked."""

    kind: str
    qid: str
    docids: tuple[str, ...]
    judgment: AnyJudgment
    attempts: int = 1
    created: float = 0.0

    @property
    def valid(self) -> bool:
        return getattr(self.judgment, "valid", True)


@dataclass(frozen=True)
class Codec:
    """How one form's judgment lives in a row (answer, valid, repairs) and in the judgments
    frame."""

    form: Form
    column: str
    """The judgments frame's column for this form's answer."""
    encode: Callable[[Any], tuple[object, bool, int]]
    """judgment -> (answer, valid, repairs) as stored."""
    decode: Callable[[Any, int, int, bool, int], Any]
    """(answer, prompt_tokens, completion_tokens, valid, repairs) -> the judgment, or a string
    saying what is wrong; TypeError or ValueError for an answer that cannot be read."""
    check: Callable[[Any, int], str | None]
    """(judgment, docids shown) -> what is wrong with its values (None when nothing)."""
    value: Callable[[Any], Any]
    """judgment -> its answer in the judgments frame."""


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _decode_pair(answer: Any, prompt: int, completion: int, valid: bool, repairs: int) -> Any:
    if not isinstance(answer, float):
        return f"p_a {answer!r} is not a number"
    return Judgment(answer, prompt, completion, valid)


def _check_pair(judgment: Judgment, n: int) -> str | None:
    if n != 2:
        return f"a pairwise answer over {n} docids"
    if not _is_number(judgment.p_a) or not 0.0 <= judgment.p_a <= 1.0:  # NaN fails both
        return f"p_a {judgment.p_a!r} is not a probability"
    return None


def _check_block(judgment: BlockJudgment, n: int) -> str | None:
    if sorted(judgment.order) != list(range(n)):
        return f"order {list(judgment.order)} is not a permutation of {n} positions"
    if not _is_count(judgment.repairs):
        return f"repairs {judgment.repairs!r} is not a non-negative integer"
    return None


def _check_set(judgment: SetJudgment, n: int) -> str | None:
    probs = judgment.probs
    if len(probs) != n or n < 1:
        return f"{len(probs)} set probabilities for {n} docids"
    if not all(_is_number(q) and 0.0 <= q <= 1.0 for q in probs):
        return f"set probabilities {list(probs)} are not probabilities"
    if not math.isclose(sum(probs), 1.0, abs_tol=1e-6):
        return f"set probabilities sum to {sum(probs)}, not 1"
    return None


_CODECS = (
    Codec(
        FORMS["pair"],
        "p_a",
        encode=lambda j: (float(j.p_a), j.valid, 0),
        decode=_decode_pair,
        check=_check_pair,
        value=lambda j: j.p_a,
    ),
    Codec(
        FORMS["block"],
        "order",
        encode=lambda j: (json.dumps(list(j.order)), True, j.repairs),
        decode=lambda answer, prompt, completion, valid, repairs: BlockJudgment(
            tuple(json.loads(answer)), prompt, completion, repairs
        ),
        check=_check_block,
        value=lambda j: list(j.order),
    ),
    Codec(
        FORMS["set"],
        "probs",
        encode=lambda j: (json.dumps(list(j.probs)), j.valid, 0),
        decode=lambda answer, prompt, completion, valid, repairs: SetJudgment(
            tuple(float(p) for p in json.loads(answer)), prompt, completion, valid
        ),
        check=_check_set,
        value=lambda j: list(j.probs),
    ),
)
CODECS: dict[str, Codec] = {codec.form.name: codec for codec in _CODECS}
"""One codec per request form, keyed by the form's name (the rows' `kind`)."""


def _json_strings(values: Sequence[str]) -> str:
    """`json.dumps(list(values))` for strings, without the encoder's per-call setup."""
    return "[" + ", ".join(map(encode_basestring_ascii, values)) + "]"


def encode_row(key: bytes, judge_id: int, identity: str, entry: Entry, created: float) -> Row:
    """The row that stores an entry (checked beforehand: `checks.check_entry`)."""
    judgment = entry.judgment
    answer, valid, repairs = CODECS[entry.kind].encode(judgment)
    row = (
        key,
        judge_id,
        entry.kind,
        entry.qid,
        _json_strings(entry.docids),
        answer,
        judgment.prompt_tokens,
        judgment.completion_tokens,
        int(valid),
        repairs,
        entry.attempts,
        entry.created or created,
    )
    return (*row, row_checksum(identity, row))  # type: ignore[return-value]


def decode_row(row: Sequence[Any]) -> Entry | str:
    """The entry a row holds, or why it cannot be read (its checksum and values are checked by
    `checks.read_row`)."""
    kind, qid, docids, answer, prompt_tokens, completion_tokens, valid, repairs = row[2:10]
    codec = CODECS.get(kind)
    if codec is None:
        return f"unknown kind {kind!r}"
    try:
        shown = tuple(json.loads(docids))
        judgment = codec.decode(answer, prompt_tokens, completion_tokens, valid == 1, repairs)
    except (TypeError, ValueError) as error:
        return f"undecodable value ({error})"
    if isinstance(judgment, str):
        return judgment
    if valid not in (0, 1):
        return f"valid {valid!r} is neither 0 nor 1"
    return Entry(kind, qid, shown, judgment, row[10], row[11])


FRAME_COLUMNS = [
    "key",
    "judge",
    "kind",
    "qid",
    "docids",
    *(codec.column for codec in CODECS.values()),
    "valid",
    "repairs",
    "attempts",
    "prompt_tokens",
    "completion_tokens",
    "created",
]
"""The judgments frame (`SQLiteCache.to_pandas`): one column per form's answer, None elsewhere."""


def frame_record(key: bytes, identity: str | None, entry: Entry) -> dict[str, Any]:
    """One judgment as a row of the judgments frame."""
    codec = CODECS[entry.kind]
    judgment = entry.judgment
    _, valid, repairs = codec.encode(judgment)
    return {
        "key": bytes(key).hex(),
        "judge": identity,
        "kind": entry.kind,
        "qid": entry.qid,
        "docids": list(entry.docids),
        **{other.column: None for other in CODECS.values()},
        codec.column: codec.value(judgment),
        "valid": entry.valid,
        "repairs": repairs,
        "attempts": entry.attempts,
        "prompt_tokens": judgment.prompt_tokens,
        "completion_tokens": judgment.completion_tokens,
        "created": datetime.fromtimestamp(entry.created, timezone.utc),
    }
