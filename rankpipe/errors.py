"""Errors that the CLI turns into exit codes: bad input exits 2, anything else exits 1."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


class InputError(Exception):
    """The user's input is wrong (a file, an option, a name). The CLI prints it and exits 2."""


def line_error(path: str | Path, line_no: int, message: str) -> InputError:
    """An InputError naming the file and the 1-based line, e.g. `line 17 of run.trec: ...`."""
    return InputError(f"line {line_no} of {path}: {message}")


class ClosedError(RuntimeError):
    """An object (a judgment cache, a Reranker) used after `close()`: the caller's mistake, not a
    problem of any file."""


class JudgeError(Exception):
    """The judge failed for good (a server dead after its retries, a model that cannot load or run).
    Judgments finished before the failure are in the cache, so rerunning the same command
    resumes."""

    def __init__(self, message: str, partial: Mapping[int, Any] | None = None) -> None:
        super().__init__(message)
        self.partial: dict[int, Any] = dict(partial or {})
        """Answers that did succeed before the failure, by position in the failed batch (judgments
        of the judge's own type): the executor caches them before the error surfaces."""
