"""The Porter stemmer as Lucene's PorterStemFilter implements it: Martin Porter's reference C
version (Porter, 1980, "An algorithm for suffix stripping"; tartarus.org/martin/PorterStemmer),
which departs from the published algorithm in three ways: words of one or two letters are left
alone, -bli becomes -ble (the paper has -abli -> -able) and -logi becomes -log. The Snowball
`porter` stemmer (PyStemmer) follows the paper instead, so it disagrees with Lucene on words such
as "biology" and "possibly".

The steps below follow the C version; `stem` counts positions from 0 and `_Word.j` marks the end of
the stem before a suffix, as there."""

from __future__ import annotations

import functools

_STEP2 = {
    "a": (("ational", "ate"), ("tional", "tion")),
    "c": (("enci", "ence"), ("anci", "ance")),
    "e": (("izer", "ize"),),
    "l": (("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous")),
    "o": (("ization", "ize"), ("ation", "ate"), ("ator", "ate")),
    "s": (("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous")),
    "t": (("aliti", "al"), ("iviti", "ive"), ("biliti", "ble")),
    "g": (("logi", "log"),),
}
"""Keyed by the next-to-last letter; the first suffix that ends the word decides."""
_STEP3 = {
    "e": (("icate", "ic"), ("ative", ""), ("alize", "al")),
    "i": (("iciti", "ic"),),
    "l": (("ical", "ic"), ("ful", "")),
    "s": (("ness", ""),),
}
"""Keyed by the last letter."""
_STEP4 = {
    "a": ("al",),
    "c": ("ance", "ence"),
    "e": ("er",),
    "i": ("ic",),
    "l": ("able", "ible"),
    "n": ("ant", "ement", "ment", "ent"),
    "o": ("ion", "ou"),
    "s": ("ism",),
    "t": ("ate", "iti"),
    "u": ("ous",),
    "v": ("ive",),
    "z": ("ize",),
}
"""Keyed by the next-to-last letter."""


class _Word:
    def __init__(self, word: str) -> None:
        self.b = word
        self.k = len(word) - 1
        """Index of the last letter of the word as stemmed so far."""
        self.j = 0
        """Index of the last letter of the stem before the suffix that `ends` last matched."""

    def cons(self, i: int) -> bool:
        ch = self.b[i]
        if ch in "aeiou":
            return False
        if ch == "y":
            return i == 0 or not self.cons(i - 1)
        return True

    def m(self) -> int:
        """The number of vowel-consonant sequences in b[0..j]."""
        n, i, j = 0, 0, self.j
        while i <= j and self.cons(i):
            i += 1
        while i <= j:
            while i <= j and not self.cons(i):
                i += 1
            if i > j:
                break
            while i <= j and self.cons(i):
                i += 1
            n += 1
        return n

    def vowel_in_stem(self) -> bool:
        return any(not self.cons(i) for i in range(self.j + 1))

    def double_consonant(self, i: int) -> bool:
        return i >= 1 and self.b[i] == self.b[i - 1] and self.cons(i)

    def cvc(self, i: int) -> bool:
        """Consonant-vowel-consonant ending at i, the last consonant not w, x or y."""
        return (
            i >= 2
            and self.cons(i)
            and not self.cons(i - 1)
            and self.cons(i - 2)
            and self.b[i] not in "wxy"
        )

    def ends(self, suffix: str) -> bool:
        if not self.b[: self.k + 1].endswith(suffix):
            return False
        self.j = self.k - len(suffix)
        return True

    def set_to(self, suffix: str) -> None:
        self.b = self.b[: self.j + 1] + suffix + self.b[self.k + 1 :]
        self.k = self.j + len(suffix)

    def replace_if_measured(self, suffix: str) -> None:
        if self.m() > 0:
            self.set_to(suffix)

    def step1ab(self) -> None:
        if self.b[self.k] == "s":
            if self.ends("sses"):
                self.k -= 2
            elif self.ends("ies"):
                self.set_to("i")
            elif self.b[self.k - 1] != "s":
                self.k -= 1
        if self.ends("eed"):
            if self.m() > 0:
                self.k -= 1
        elif (self.ends("ed") or self.ends("ing")) and self.vowel_in_stem():
            self.k = self.j
            if self.ends("at"):
                self.set_to("ate")
            elif self.ends("bl"):
                self.set_to("ble")
            elif self.ends("iz"):
                self.set_to("ize")
            elif self.double_consonant(self.k):
                if self.b[self.k] not in "lsz":
                    self.k -= 1
            elif self.m() == 1 and self.cvc(self.k):
                self.set_to("e")

    def step1c(self) -> None:
        if self.ends("y") and self.vowel_in_stem():
            self.b = self.b[: self.k] + "i" + self.b[self.k + 1 :]

    def step2(self) -> None:
        if self.k == 0:
            return
        for suffix, replacement in _STEP2.get(self.b[self.k - 1], ()):
            if self.ends(suffix):
                self.replace_if_measured(replacement)
                return

    def step3(self) -> None:
        for suffix, replacement in _STEP3.get(self.b[self.k], ()):
            if self.ends(suffix):
                self.replace_if_measured(replacement)
                return

    def step4(self) -> None:
        if self.k == 0:
            return
        for suffix in _STEP4.get(self.b[self.k - 1], ()):
            if self.ends(suffix):
                if suffix == "ion" and not (self.j >= 0 and self.b[self.j] in "st"):
                    continue
                if self.m() > 1:
                    self.k = self.j
                return

    def step5(self) -> None:
        self.j = self.k
        if self.b[self.k] == "e":
            a = self.m()
            if a > 1 or (a == 1 and not self.cvc(self.k - 1)):
                self.k -= 1
        if self.b[self.k] == "l" and self.double_consonant(self.k) and self.m() > 1:
            self.k -= 1


@functools.lru_cache(maxsize=1 << 20)
def stem(word: str) -> str:
    """The Porter stem of a lowercase word, as Lucene's PorterStemFilter gives it."""
    if len(word) <= 2:
        return word
    w = _Word(word)
    for step in (w.step1ab, w.step1c, w.step2, w.step3, w.step4, w.step5):
        step()
    return w.b[: w.k + 1]
