"""What is hashed, and how: a prompt's key and a stored row's checksum (both BLAKE2b).

A key (16 bytes) is a BLAKE2b digest of the Python repr of a tuple of strings: the request form
("pair", "block" or "set"), the judge's identity, then the query and the passages shown, in order
(their texts, or qid and docids for judges that decide by docid). Each string is quoted and
escaped, so the encoding cannot be read two ways and two different prompts never share a key
(`"x\\x1fy", "z"` and `"x", "y\\x1fz"` differ); it is also several times cheaper than JSON. The
first 4 bytes hash the judge and query alone, the other 12 everything, so one query's answers are
stored together and a commit touches few pages.

A row's checksum (64 bits, keyed by the row's key) covers its other fields and its judge's
identity, so a row altered after it was written, or moved under another judge, is recognised.
Both encodings are the on-disk format: changing either orphans every existing cache."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from typing import Any

from rankpipe.data.types import Candidate, Query


def prompt_key(
    kind: str, identity: str, reads_text: bool, query: Query, passages: Sequence[Candidate]
) -> bytes:
    """Key of one inference: kind, judge identity, and the query and passages shown, in order."""
    if reads_text:
        head, shown = query.text, [p.text for p in passages]
    else:
        head, shown = query.qid, [p.docid for p in passages]
    encoded = repr((kind, identity, head, *shown)).encode("utf-8", "surrogatepass")
    return _scope(identity, head) + hashlib.blake2b(encoded, digest_size=12).digest()


@functools.lru_cache(maxsize=4096)
def _scope(identity: str, head: str) -> bytes:
    """A key's first 4 bytes: one judge's answers for one query lie side by side in the file, so a
    commit rewrites a few pages of it rather than one page per row."""
    encoded = repr((identity, head)).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(encoded, digest_size=4).digest()


def row_checksum(identity: str, row: Sequence[Any]) -> int:
    """BLAKE2b over a row's fields (all but the checksum itself) and its judge's identity."""
    _, _, kind, qid, docids, answer, prompt, completion, valid, repairs, attempts, created = row[
        :12
    ]
    text = (
        f"{identity}\x1f{kind}\x1f{qid}\x1f{docids}\x1f{answer!r}\x1f{prompt!r}\x1f"
        f"{completion!r}\x1f{valid!r}\x1f{repairs!r}\x1f{attempts!r}\x1f{created!r}"
    )
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8, key=row[0])
    return int.from_bytes(digest.digest(), "big", signed=True)
