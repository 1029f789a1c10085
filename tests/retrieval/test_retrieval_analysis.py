"""The Python copy of Lucene's English analyzer, and the Porter stemmer it uses."""

from __future__ import annotations

import pytest

from rankpipe.data.corpus import read_corpus
from rankpipe.data.datasets import DEMO_DIR
from rankpipe.data.topics import read_topics
from rankpipe.retrieval import lucene
from rankpipe.retrieval.analysis import lucene_english_terms
from rankpipe.retrieval.porter import stem


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("caresses", "caress"),
        ("ponies", "poni"),
        ("running", "run"),
        ("hopping", "hop"),
        ("falling", "fall"),
        ("relational", "relat"),
        ("generalization", "gener"),
        ("agreed", "agre"),
        ("feed", "feed"),
        ("happy", "happi"),
        ("electricity", "electr"),
        ("adjustable", "adjust"),
        ("controllable", "control"),
        # where Porter's reference C version (and Lucene) departs from the published algorithm
        ("anthropology", "anthropolog"),
        ("possibly", "possibl"),
        ("us", "us"),
        ("vs", "vs"),
    ],
)
def test_porter_stems_as_lucene(word: str, expected: str) -> None:
    assert stem(word) == expected


def test_analyzer_tokenizes_stops_and_stems_as_lucene() -> None:
    # expected terms: Lucene's own DefaultEnglishAnalyzer output (pyserini 1.6.0, Anserini 1.7.1)
    text = "The U.S.A. don't John's 3.14 1,000 foo_bar e-mail x@y.com C++ it's running dogs' "
    text += "well-known"
    assert lucene_english_terms(text) == [
        "u.s.a", "don't", "john", "3.14", "1,000", "foo_bar", "e", "mail", "x", "y.com", "c", "run",
        "dog", "well", "known",
    ]  # fmt: skip
    assert lucene_english_terms("to be or not to be") == []
    assert lucene_english_terms("the ®  mark ___") == ["®", "mark"]


def test_analyzer_matches_lucene_on_the_demo_collection() -> None:
    reason = lucene.unavailable_reason()
    if reason:
        pytest.skip(f"pyserini/Java unavailable: {reason}")
    lucene.pyserini_lucene()
    from pyserini.analysis import Analyzer, get_lucene_analyzer

    analyzer = Analyzer(get_lucene_analyzer())
    texts = [*read_corpus(DEMO_DIR / "corpus.tsv").values()]
    texts += [q.text for q in read_topics(DEMO_DIR / "topics.tsv").values()]
    mismatches = [t for t in texts if lucene_english_terms(t) != list(analyzer.analyze(t))]
    assert mismatches == []
