"""Write outputs through a temporary file and a rename, so no half-written file is ever left; check
before any work that the outputs can be written at all.

A temporary file is named `.NAME.rankpipe-tmp-PID` beside its target. A process killed while
writing (kill -9) leaves one behind; the next write to the same target removes those of processes
no longer alive. `written_together()` defers the renames of the writes inside it to its end, so a
run and its cost ledger appear both or neither.

A write that fails for want of room (disk full, a file-size limit: `ulimit -f`) raises an OSError
that names the file written; `same_file()` tells whether an output would overwrite an input."""

from __future__ import annotations

import contextlib
import contextvars
import errno
import gzip
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from rankpipe.errors import InputError

TMP_MARK = ".rankpipe-tmp-"
NO_ROOM = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
"""Write errors that mean the file could not grow: disk full, over the file-size limit, over
quota."""

_pending: contextvars.ContextVar[list[tuple[Path, Path]] | None] = contextvars.ContextVar(
    "rankpipe_atomic_pending", default=None
)
"""(temporary file, target) pairs written inside `written_together()`, renamed at its end."""


def temporary_path(path: Path, pid: int | None = None) -> Path:
    return path.with_name(f".{path.name}{TMP_MARK}{os.getpid() if pid is None else pid}")


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; on success rename it over `path`, on error delete it.
    A text file whose name ends in .gz is gzip-compressed, as the readers expect.

    A symbolic link is written through: the file it names is replaced and the link kept. A device
    or a pipe (`/dev/stdout`, a FIFO) is written to directly, there being nothing to rename (and
    renaming over it would replace the device with a file)."""
    given = path
    if is_stream(given):  # stat follows /dev/stdout -> /proc/self/fd/1, which realpath cannot
        with open(given, "wb") as raw, _encoded(raw, Path(given), mode) as handle:
            yield handle
        return
    path = Path(os.path.realpath(given))
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = temporary_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)  # the umask applies
    try:
        with os.fdopen(fd, "wb") as raw:
            with _encoded(raw, path, mode) as handle:
                yield handle
            raw.flush()
            os.fsync(raw.fileno())
        pending = _pending.get()
        if pending is None:
            os.replace(tmp, path)
        else:
            pending.append((tmp, path))
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(error, OSError) and error.errno in NO_ROOM and not error.filename:
            raise OSError(error.errno, error.strerror, str(given)) from None
        raise


@contextlib.contextmanager
def _encoded(raw: IO[bytes], path: Path, mode: str) -> Iterator[IO[Any]]:
    """`raw` itself (binary mode), gzip-compressed text for a .gz name, else UTF-8 text."""
    if "b" in mode:
        yield raw
    elif path.suffix == ".gz":
        with gzip.open(raw, "wt", encoding="utf-8") as handle:
            yield handle
    else:
        with open(raw.fileno(), "w", encoding="utf-8", closefd=False) as handle:
            yield handle


def is_stream(path: str | Path) -> bool:
    """Whether `path` names something that exists and is neither a file nor a folder: a device,
    a pipe, a socket (symbolic links followed)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


@contextlib.contextmanager
def written_together() -> Iterator[None]:
    """Atomic writes inside this block are renamed into place together when it ends, or all
    deleted when it fails: outputs that belong together (a run and its ledger) appear both or
    neither."""
    if _pending.get() is not None:  # nested: the outer block renames
        yield
        return
    pending: list[tuple[Path, Path]] = []
    token = _pending.set(pending)
    try:
        yield
        while pending:
            tmp, path = pending[0]
            os.replace(tmp, path)
            pending.pop(0)
    finally:
        _pending.reset(token)
        for tmp, _ in pending:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete the temporary files beside `path` left by processes that are no longer alive;
    returns them."""
    removed = []
    with contextlib.suppress(OSError):
        for candidate in path.parent.glob(f".{_glob_escape(path.name)}{TMP_MARK}*"):
            pid = candidate.name.rpartition(TMP_MARK)[2]
            if pid.isdigit() and not _alive(int(pid)):
                with contextlib.suppress(FileNotFoundError):
                    candidate.unlink()
                    removed.append(candidate)
    return removed


def check_writable(path: str | Path, what: str) -> None:
    """Raise InputError, before any work is done, when `path` cannot be written: it is a
    directory, something on its way is a file, or its folder cannot take new files. Creates
    nothing (a missing folder is made when writing). A device or pipe must be writable."""
    path = Path(path)
    if is_stream(path):
        if not os.access(path, os.W_OK):
            raise InputError(f"{what} {path}: cannot write to it (permission denied)")
        return
    if path.is_dir():
        raise InputError(f"{what} {path}: is a directory; give a file name")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(f"{what} {path}: {folder} is not a directory")
    probe = folder / f".rankpipe-probe-{os.getpid()}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except FileExistsError:
        pass  # another probe of this process: the folder takes files
    except OSError as error:
        raise InputError(
            f"{what} {path}: cannot write in {folder} ({error.strerror or error})"
        ) from None


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file: the same path once resolved (symbolic links followed), or
    the same device and inode (hard links, bind mounts). A path that does not exist is the same
    as another only by its resolved name."""
    try:
        if Path(a).resolve() == Path(b).resolve():
            return True
    except (OSError, RuntimeError):  # a symbolic link loop: compared by inode below, if at all
        pass
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)
