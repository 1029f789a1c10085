"""Named data sets: packaged demo, local data under RANKPIPE_DATA, unknown names, ir_datasets."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from rankpipe.data.candidates import write_candidates
from rankpipe.data.datasets import DEMO_DIR, Dataset, load_dataset
from rankpipe.data.trec import read_qrels, write_qrels
from rankpipe.errors import InputError


def test_demo_is_packaged(demo: Dataset) -> None:
    assert [len(item.candidates) for item in demo.candidates] == [20] * 10
    assert demo.qrels == read_qrels(DEMO_DIR / "qrels.trec")
    assert [len(item.candidates) for item in load_dataset("demo", depth=5).candidates] == [5] * 10


def test_dl19_resolves_through_rankpipe_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo: Dataset
) -> None:
    """`dl19` means $RANKPIPE_DATA/dl19/{bm25_top100.jsonl,qrels.txt}, wherever that folder is."""
    assert demo.qrels is not None
    write_candidates(demo.candidates, tmp_path / "dl19" / "bm25_top100.jsonl")
    write_qrels(demo.qrels, tmp_path / "dl19" / "qrels.txt")
    monkeypatch.setenv("RANKPIPE_DATA", str(tmp_path))
    for name in ("dl19", "dl19/bm25"):
        assert load_dataset(name) == Dataset(name, demo.candidates, demo.qrels)
    with pytest.raises(InputError) as error:
        load_dataset("dl19/contriever")
    assert str(error.value) == (
        f"dataset dl19/contriever: {tmp_path}/dl19/contriever_top100.jsonl not found; "
        "set RANKPIPE_DATA to the folder holding dl19/"
    )


def test_noveleval_without_its_folder_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANKPIPE_DATA", str(tmp_path))
    with pytest.raises(
        InputError,
        match=f"^dataset noveleval: {tmp_path}/noveleval/corpus.tsv not found; set RANKPIPE_DATA",
    ):
        load_dataset("noveleval")


def test_shared_dl19(dl19: Dataset) -> None:
    assert len(dl19.candidates) == 43
    assert all(len(item.candidates) == 100 for item in dl19.candidates)
    assert dl19.qrels is not None and len(dl19.qrels) == 43
    contriever = load_dataset("dl19/contriever", depth=10)
    assert [item.query for item in contriever.candidates] == [
        item.query for item in dl19.candidates
    ]
    assert all(len(item.candidates) == 10 for item in contriever.candidates)


def test_shared_noveleval(shared_data: Path) -> None:
    noveleval = load_dataset("noveleval")
    assert len(noveleval.candidates) == 21
    assert all(len(item.candidates) == 20 for item in noveleval.candidates)
    assert noveleval.qrels is not None
    for item in noveleval.candidates:  # fully judged: every candidate has a label
        assert {c.docid for c in item.candidates} == set(noveleval.qrels[item.query.qid])
        assert [c.rank for c in item.candidates] == list(range(1, 21))


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(InputError) as error:
        load_dataset("dl20")
    assert str(error.value) == (
        "unknown dataset 'dl20': expected one of demo, dl19, dl19/bm25, dl19/contriever, "
        "noveleval, or an ir_datasets ID"
    )


def test_ir_datasets_id_gives_a_clear_error_offline() -> None:
    """Without ir_datasets the error says to install it; with it, downloads fail offline."""
    with pytest.raises(InputError) as error:
        load_dataset("msmarco-passage/trec-dl-2019/judged")
    message = str(error.value)
    assert message.startswith("dataset msmarco-passage/trec-dl-2019/judged: ")
    if importlib.util.find_spec("ir_datasets") is None:
        assert "install ir_datasets" in message
    else:
        assert "needs network access" in message
    assert "\n" not in message


class _OfflineDataset:
    """What ir_datasets hands back offline: the data set is known, every data access fails."""

    def has_scoreddocs(self) -> bool:
        return True

    def queries_iter(self) -> None:
        raise OSError("All download sources failed")


def test_ir_datasets_download_failure_is_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    def load(name: str) -> _OfflineDataset:
        if name != "msmarco-passage/trec-dl-2019/judged":
            raise KeyError(name)
        return _OfflineDataset()

    monkeypatch.setitem(sys.modules, "ir_datasets", types.SimpleNamespace(load=load))
    with pytest.raises(InputError) as error:
        load_dataset("msmarco-passage/trec-dl-2019/judged")
    assert str(error.value) == (
        "dataset msmarco-passage/trec-dl-2019/judged: ir_datasets could not load it "
        "(All download sources failed); it needs network access"
    )
    with pytest.raises(
        InputError, match="^unknown dataset 'no/such-set': not a local name nor an ir_datasets ID$"
    ):
        load_dataset("no/such-set")
