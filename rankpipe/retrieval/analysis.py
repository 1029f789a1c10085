"""Lucene's English analyzer (Anserini's `DefaultEnglishAnalyzer`, pyserini's default) in Python, so
the bm25s engine indexes the same terms as Lucene does.

Lucene's chain: StandardTokenizer (Unicode word segmentation, UAX #29; emoji are tokens of their
own), EnglishPossessiveFilter (drops a trailing 's), LowerCaseFilter, StopFilter (Lucene's 33
English stopwords), PorterStemFilter (Porter's reference C version, rankpipe.retrieval.porter).

Measured against Lucene's own analyzer (through pyserini) on the 7,230 DL19 sub-corpus passages,
the 200 demo passages and their queries: identical terms for every text."""

from __future__ import annotations

import regex

from rankpipe.retrieval.porter import stem

LUCENE_ENGLISH_STOPWORDS = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is",
        "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there",
        "these", "they", "this", "to", "was", "will", "with",
    }
)  # fmt: skip
"""Lucene's `EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`."""

_WORD = regex.compile(r"(?w)\b[\w\p{Extended_Pictographic}].*?\b|\p{Extended_Pictographic}")
"""Unicode word segments (flag `w`: \\b follows UAX #29) that start like a word, and emoji."""
_TOKEN = regex.compile(r"[\p{L}\p{N}\p{Extended_Pictographic}]")
"""StandardTokenizer emits only segments holding a letter, a digit or an emoji (not `___`)."""
_APOSTROPHES = ("'", "\u2019", "\uff07")
_SEPARATORS = str.maketrans({"\u00b8": " "})
"""Lucene's tokenizer (an older Unicode version's word-break table) splits words at a cedilla
(U+00B8), which appears in mis-decoded (mojibake) web text."""


def lucene_english_terms(text: str) -> list[str]:
    """The terms Lucene's English analyzer (with Porter stemming) makes of `text`, in order."""
    terms = []
    for word in _WORD.findall(text.translate(_SEPARATORS)):
        if not _TOKEN.search(word):
            continue
        if len(word) >= 2 and word[-2] in _APOSTROPHES and word[-1] in "sS":
            word = word[:-2]
        word = word.lower()
        if word and word not in LUCENE_ENGLISH_STOPWORDS:
            terms.append(stem(word))
    return terms
