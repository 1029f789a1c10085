"""Shared fixtures: the shared data directory (tests that need it skip, saying so, where it is
absent), loaded data sets, and an isolated judgment cache for every test session (dequantized
models stay in $RANKPIPE_MODELS, so they are made once per machine)."""

from __future__ import annotations

import os

# one OpenBLAS thread for numpy: the aggregators' small vector work only slows down when threads
# contend
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from rankpipe.data.datasets import Dataset, data_dir, load_dataset  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
if "RANKPIPE_DATA" not in os.environ:
    os.environ["RANKPIPE_DATA"] = str(REPO.parent / "shared" / "data")


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never touch the user's default judgment cache."""
    os.environ["RANKPIPE_CACHE"] = str(tmp_path_factory.mktemp("cache") / "judgments.sqlite")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    folder = data_dir()
    if not (folder / "dl19" / "qrels.txt").is_file():
        pytest.skip(
            f"shared data not found at {folder} (set RANKPIPE_DATA to the folder holding dl19/)"
        )
    return folder


@pytest.fixture(scope="session")
def dl19(shared_data: Path) -> Dataset:
    """TREC DL 2019 passage: 43 queries, BM25 top-100 with texts, official qrels."""
    return load_dataset("dl19")


@pytest.fixture(scope="session")
def demo() -> Dataset:
    """The packaged demo collection: 10 queries x 20 candidates, graded qrels."""
    return load_dataset("demo")
