"""Few-shot pairwise examples retrieved from the most similar training queries.

Sinhababu et al. 2024, "Few-shot Prompting for Pairwise Ranking: An Effective Non-Parametric
Retrieval Model": for a test query, find the training queries most similar to it (BM25 over the
training queries' text, with bm25s) and show, for each, a preference from its relevance labels
(a relevant and a non-relevant passage) as a worked example before the question.

A training set is topics + qrels + passage texts: a named dataset (`fewshot_examples("dl19")`)
or any `Dataset`. For each of the `shots` most similar training queries that has both a relevant
passage (its highest grade, the first in first-stage order) and a judged non-relevant one (grade
0, the first), one example; the relevant passage goes first in even examples and second in odd
ones, so the examples teach no position. The test query itself (same qid or same text) is never an
example (leave-one-out when training and test sets overlap). Examples depend on the query only, so
every prompt of a query shares them and its prefix stays reusable; `identity` (the training set's
fingerprint, `shots`, the retriever) goes into the judge's cache identity.

For backends: the judge option is `fewshot=NAME` (a dataset name for `load_dataset`) with
`shots=K` (default 2); build it with `fewshot_examples(name, shots)`, pass it to
`encoding.encode_pairs(..., fewshot=...)` / `encode_pairs_with_prefixes(..., fewshot=...)` (or call
`template_for(template, query)` before `render_pair`), and append `identity` to the judge's."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from functools import cached_property

from rankpipe.data.datasets import Dataset, load_dataset
from rankpipe.data.types import Query
from rankpipe.errors import InputError
from rankpipe.judges.prompts import Example, PromptTemplate


@dataclass(frozen=True)
class TrainingQuery:
    """A training query with the passages its labels make examples of."""

    qid: str
    text: str
    relevant: str
    nonrelevant: str


def training_queries(dataset: Dataset) -> list[TrainingQuery]:
    """The queries of a dataset that have a relevant and a judged non-relevant candidate."""
    if dataset.qrels is None:
        raise InputError(f"fewshot: dataset {dataset.name} has no qrels to draw examples from")
    found = []
    for item in dataset.candidates:
        grades = dataset.qrels.get(item.query.qid, {})
        judged = [c for c in item.candidates if c.docid in grades]
        best = max((grades[c.docid] for c in judged), default=0)
        relevant = next((c for c in judged if grades[c.docid] == best), None)
        nonrelevant = next((c for c in judged if grades[c.docid] == 0), None)
        if best > 0 and relevant is not None and nonrelevant is not None:
            found.append(
                TrainingQuery(item.query.qid, item.query.text, relevant.text, nonrelevant.text)
            )
    return found


class ExampleRetriever:
    """Worked examples for a query from its most similar training queries (BM25 over their text)."""

    def __init__(self, name: str, training: list[TrainingQuery], shots: int = 2) -> None:
        if shots < 1:
            raise InputError(f"fewshot: shots must be at least 1, got {shots}")
        if not training:
            raise InputError(f"fewshot: training set {name} has no query with usable labels")
        self.name, self.training, self.shots = name, training, shots
        fingerprint = hashlib.sha256(repr(training).encode("utf-8")).hexdigest()[:12]
        self.identity = f"fewshot={name}#{fingerprint},shots={shots},by=bm25"
        self._examples: dict[tuple[str, str], tuple[Example, ...]] = {}

    @cached_property
    def _index(self):  # noqa: ANN202 (bm25s is imported lazily)
        import bm25s

        index = bm25s.BM25()
        texts = [t.text for t in self.training]
        index.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
        return index

    def similar(self, query: Query) -> list[TrainingQuery]:
        """Training queries by BM25 similarity to `query` (ties in training order), the query
        itself left out."""
        scores = self._scores(query.text)
        order = sorted(range(len(self.training)), key=lambda i: (-scores[i], i))
        same = _normalized(query.text)
        return [
            self.training[i]
            for i in order
            if self.training[i].qid != query.qid and _normalized(self.training[i].text) != same
        ]

    def examples(self, query: Query) -> tuple[Example, ...]:
        """The `shots` examples for a query, the same every time it is asked."""
        key = (query.qid, query.text)
        if key not in self._examples:
            chosen = self.similar(query)[: self.shots]
            self._examples[key] = tuple(
                Example(t.text, t.relevant, t.nonrelevant, "A")
                if i % 2 == 0
                else Example(t.text, t.nonrelevant, t.relevant, "B")
                for i, t in enumerate(chosen)
            )
        return self._examples[key]

    def template_for(self, template: PromptTemplate, query: Query) -> PromptTemplate:
        """`template` with the query's retrieved examples in place of its own."""
        if template.kind != "pairwise" or tuple(template.choices) != ("A", "B"):
            raise InputError(
                f"fewshot: prompt {template.name} must be pairwise with choices A and B"
            )
        return replace(template, examples=self.examples(query))

    def _scores(self, text: str) -> list[float]:
        import bm25s

        tokens = bm25s.tokenize([text], stopwords="en", show_progress=False, return_ids=False)[0]
        known = [t for t in tokens if t in self._index.vocab_dict]
        if not known:
            return [0.0] * len(self.training)
        return [float(s) for s in self._index.get_scores(known)]


def fewshot_examples(name: str, shots: int = 2) -> ExampleRetriever:
    """The example retriever for the named dataset (`fewshot=NAME,shots=K`)."""
    return ExampleRetriever(name, training_queries(load_dataset(name)), shots)


def _normalized(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()
