"""Open input files (plain or gzip) with a clear error when they are missing or unreadable; a
leading UTF-8 byte order mark is skipped. Identifiers (qids, docids, tags) are checked here, on
reading and on writing: TREC files separate fields by whitespace, so an identifier holding
whitespace, a control character or a stray byte order mark cannot be written and read back."""

from __future__ import annotations

import contextlib
import errno
import gzip
import os
import stat
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from rankpipe.errors import InputError


def open_text(path: str | Path) -> TextIO:
    """The file as text. A pipe or other stream works too (`--candidates /dev/stdin`, a process
    substitution `<(zcat ...)`): it is read once, in order, as every reader here reads."""
    path = Path(path)
    check_readable(path)
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rt", encoding="utf-8-sig")
        return open(path, encoding="utf-8-sig")
    except OSError as error:
        raise InputError(f"{path}: cannot open it ({error.strerror or error})") from None


def check_readable(path: Path) -> None:
    """InputError unless `path` is something to read: a file, or a pipe or device (not a folder);
    a missing file, a dangling symbolic link and a symbolic link loop are each named."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise InputError(
                f"{path}: a symbolic link to {os.readlink(path)}, which does not exist"
            ) from None
        raise InputError(f"{path}: no such file") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise InputError(
                f"{path}: a loop of symbolic links (it never reaches a file)"
            ) from None
        raise InputError(f"{path}: cannot open it ({error.strerror or error})") from None
    if stat.S_ISDIR(mode):
        raise InputError(f"{path}: is a directory, not a file")


@contextlib.contextmanager
def _decoding(path: str | Path) -> Iterator[None]:
    """Undecodable content (not UTF-8, a broken or fake .gz) -> an InputError naming the file."""
    try:
        yield
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 text ({error.reason})") from None
    except (OSError, EOFError) as error:
        raise InputError(f"{path}: cannot read it ({error})") from None


def read_text(path: str | Path) -> str:
    """The whole file's text."""
    with open_text(path) as handle, _decoding(path):
        return handle.read()


def numbered_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its newline) for each non-blank line."""
    with open_text(path) as handle, _decoding(path):
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if line.strip():
                yield number, line


BOM = "\ufeff"


def describe_char(char: str) -> str:
    """`U+00A0 (NO-BREAK SPACE)`: a character as a message names it."""
    return f"U+{ord(char):04X} ({unicodedata.name(char, 'unnamed')})"


def _is_separator(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) == "Cc" or char == BOM


def identifier_problem(value: str) -> str | None:
    """Why `value` cannot be an identifier in a TREC or TSV file (empty; whitespace, a control
    character or a byte order mark inside), or None."""
    if not value:
        return "is empty"
    for column, char in enumerate(value, start=1):
        if _is_separator(char):
            return f"holds {describe_char(char)} at character {column}"
    return None


def check_identifier(what: str, value: object) -> str:
    """`value` as an identifier for writing, or an InputError naming it (`docid 'a b' of query
    q1 holds U+0020 (SPACE) at character 2`)."""
    text = str(value)
    problem = identifier_problem(text)
    if problem:
        raise InputError(
            f"{what} {text!r} {problem}: identifiers cannot hold whitespace or control characters"
        )
    return text


def split_fields(path: str | Path, number: int, line: str) -> list[str]:
    """The whitespace-separated fields of a TREC line; a separator other than spaces and tabs (a
    no-break space, a form feed, a byte order mark) is an InputError naming the line and the
    character, since it would silently split or join fields."""
    if line.isascii() and line.replace("\t", " ").isprintable():  # the common case, at C speed
        return line.split()
    for column, char in enumerate(line, start=1):
        if char not in " \t" and _is_separator(char):
            raise InputError(
                f"line {number} of {path}: unexpected {describe_char(char)} at character "
                f"{column} (fields are separated by spaces or tabs)"
            )
    return line.split()
