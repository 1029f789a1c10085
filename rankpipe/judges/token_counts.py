"""Token counts of the prompts a real model would be sent, for judges that never build them (sim).

Tokenizing every rendered prompt would cost far more than the simulated judge's answer, so a
prompt's count is its template's fixed part plus what each text adds in its slot:

    tokens(prompt) = fixed + sum over slots of delta(slot, text)

`fixed` is the template rendered with empty slots by `rankpipe.judges.encoding` (chat template,
few-shot examples and answer prefix included), tokenized once per template (per block size for
listwise prompts). `delta(slot, text) = len(tok(left + text + right)) - len(tok(left + right))`,
where `left` and `right` are the rendered prompt's characters next to the slot, out to the nearest
whitespace; it is counted once per (slot, text). Byte-level BPE tokenizers (SmolLM2's, GPT-2's,
Qwen's) merge only inside pre-tokens, which break at whitespace, so the sum is exact whenever a
text's first and last pre-tokens end inside that context; a text that starts or ends with
whitespace, or a slot next to a run of several whitespace characters, can be off by a token or two
(tests/judges/test_token_counts.py measures the agreement with the real count on DL19 prompts). A
query is cut to the template's `max_words` first, as the rendered prompt shows it
(`prompts.cut_query`). Written here because no tokenizer library offers incremental counts over a
template.

Setwise prompts are counted with the `setwise` template (labels A, B, ...) the same way.
Completions: one token for a pairwise answer (the choice letter) and a setwise one (the label);
for a listwise answer, the tokens of the permutation written as the prompt's answer prefix
continues it ("3] > [1] > [2]") plus one end-of-turn token, as the `hf` judge counts them."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from rankpipe.errors import InputError
from rankpipe.extras import require
from rankpipe.judges.base import BlockPrompt, PairPrompt, SetPrompt
from rankpipe.judges.encoding import encode_prompt, render, render_pair
from rankpipe.judges.prompts import PromptTemplate, cut_query, load_prompt_of_kind, truncate

DEFAULT_TOKENIZER = "HuggingFaceTB/SmolLM2-135M-Instruct"
MARK = "\ue000{}\ue001"
"""A slot's marker while the layout is rendered: private-use characters, one word, so that neither
truncation nor a chat template touches it."""
QUERY = "\ue002"


@functools.cache
def load_tokenizer(name: str) -> Any:
    """A Hugging Face tokenizer by hub ID or path, offline through `rankpipe.models`."""
    AutoTokenizer = require("transformers", "hf", "counting tokens").AutoTokenizer

    from rankpipe.models import resolve_model

    try:
        return AutoTokenizer.from_pretrained(resolve_model(name))
    except (OSError, ValueError) as error:
        raise InputError(
            f"cannot load the tokenizer {name!r} to count tokens ({error}); "
            "name another with tokenizer=..., or give tokens=false"
        ) from None


class _Counts:
    """Token counts of strings (no special tokens), each tokenized once, in batches."""

    def __init__(self, tokenizer: Any) -> None:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None:
            self._encode = lambda texts: [
                len(e.ids) for e in backend.encode_batch_fast(texts, add_special_tokens=False)
            ]
        else:
            self._encode = lambda texts: [
                len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]
            ]
        self.known: dict[str, int] = {"": 0}

    def learn(self, texts: set[str]) -> None:
        new = [t for t in texts if t not in self.known]
        if new:
            self.known.update(zip(new, self._encode(new), strict=True))


class _Layout:
    """A rendered prompt's fixed token count, the context around each of its slots, and each
    slot's deltas so far (by the text as given, before truncation)."""

    def __init__(
        self, tokenizer: Any, counts: _Counts, marked: str, max_words: Sequence[int | None]
    ) -> None:
        """`marked`: the prompt rendered with slot i's text replaced by MARK.format(i);
        `max_words[i]`: the words slot i's text is cut to (None: as given)."""
        slots = len(max_words)
        self.contexts: list[tuple[str, str]] = []
        for mark in (MARK.format(i) for i in range(slots)):
            if marked.count(mark) != 1:
                raise ValueError(f"slot marker {mark!r} rendered {marked.count(mark)} times")
            before, _, after = marked.partition(mark)
            self.contexts.append((_left(_UNMARK.sub("", before)), _right(_UNMARK.sub("", after))))
        self.fixed = len(encode_prompt(tokenizer, _UNMARK.sub("", marked)))
        self.counts_of = counts
        self.max_words = tuple(max_words)
        self.deltas: list[dict[str, int]] = [{} for _ in range(slots)]

    def counts(self, rows: Sequence[Sequence[str]]) -> list[int]:
        """Tokens of each prompt whose slots hold these texts."""
        self._learn(rows)
        fixed, deltas = self.fixed, self.deltas
        return [fixed + sum(d[text] for d, text in zip(deltas, row, strict=True)) for row in rows]

    def _learn(self, rows: Sequence[Sequence[str]]) -> None:
        """The deltas of texts not seen yet in their slots. A text with whitespace is split at its
        first and last whitespace character (pre-token boundaries): only its first and last words
        are tokenized with the slot's context; the middle is tokenized once for every slot."""
        missing = {
            (slot, text)
            for row in rows
            for slot, text in enumerate(row)
            if text not in self.deltas[slot]
        }
        if not missing:
            return
        pieces = {}
        for slot, text in missing:
            left, right = self.contexts[slot]
            words = self.max_words[slot]
            shown = truncate(text, words) if words else text
            spaces = [m.start() for m in _SPACE.finditer(shown)]
            parts = (
                [
                    left + shown[: spaces[0]],
                    shown[spaces[0] : spaces[-1]],
                    shown[spaces[-1] :] + right,
                ]
                if spaces
                else [left + shown + right]
            )
            pieces[slot, text] = parts, left + right
        counts = self.counts_of
        counts.learn({piece for parts, bare in pieces.values() for piece in (*parts, bare)})
        for (slot, text), (parts, bare) in pieces.items():
            self.deltas[slot][text] = sum(counts.known[p] for p in parts) - counts.known[bare]


_SPACE = re.compile(r"\s")
_UNMARK = re.compile("\ue000[0-9]+\ue001")


def _left(text: str) -> str:
    """The end of `text` from the character before its last run of whitespace."""
    match = re.search(r"\S?\s+\S*$", text)
    return text[match.start() :] if match else text


def _right(text: str) -> str:
    """The start of `text` through its first run of whitespace and the character after it."""
    match = re.match(r"\S*\s+\S?", text)
    return text[: match.end()] if match else text


class TokenCounter:
    """Counts the prompt and completion tokens a real model would spend on pairwise, listwise and
    setwise prompts rendered with these templates and this tokenizer (see the module docstring)."""

    def __init__(
        self,
        tokenizer: str = DEFAULT_TOKENIZER,
        prompt: str = "prp",
        list_prompt: str = "rankgpt",
        set_prompt: str = "setwise",
    ) -> None:
        self.tokenizer_name = tokenizer
        self.tokenizer = load_tokenizer(tokenizer)
        self.pair_template = load_prompt_of_kind(prompt, "pairwise", "prompt", "sim")
        self.list_template = load_prompt_of_kind(list_prompt, "listwise", "list_prompt", "sim")
        self.set_template = load_prompt_of_kind(set_prompt, "setwise", "set_prompt", "sim")
        words = self.pair_template.max_words
        self._strings = _Counts(self.tokenizer)
        self._pair = _Layout(
            self.tokenizer,
            self._strings,
            render_pair(
                self.pair_template, self.tokenizer, MARK.format(0), MARK.format(1), MARK.format(2)
            ),
            (None, words, words),
        )
        self._lists: dict[tuple[str, int], _Layout] = {}
        self._permutations: dict[int, int] = {}

    def pair_prompts(self, prompts: Sequence[PairPrompt]) -> list[int]:
        """Prompt tokens of each pairwise prompt."""
        words = self.pair_template.max_words
        return self._pair.counts(
            [(cut_query(p.query.text, words), p.a.text, p.b.text) for p in prompts]
        )

    def block_prompts(self, prompts: Sequence[BlockPrompt]) -> list[int]:
        """Prompt tokens of each listwise prompt."""
        return self._many("block", self.list_template, prompts)

    def set_prompts(self, prompts: Sequence[SetPrompt]) -> list[int]:
        """Prompt tokens of each setwise prompt (its answer is one label token)."""
        return self._many("set", self.set_template, prompts)

    def permutation_tokens(self, size: int) -> int:
        """Completion tokens of a permutation of `size` identifiers, with the end-of-turn token."""
        if size not in self._permutations:
            written = "] > [".join(str(i) for i in range(size, 0, -1)) + "]"
            ids = self.tokenizer(written, add_special_tokens=False)["input_ids"]
            self._permutations[size] = len(ids) + 1
        return self._permutations[size]

    def _many(
        self, kind: str, template: PromptTemplate, prompts: Sequence[BlockPrompt | SetPrompt]
    ) -> list[int]:
        """Counts of prompts that show several passages, grouped by how many."""
        queries = template.template.count("{query}")
        counts: dict[int, int] = {}
        for size in {len(p.passages) for p in prompts}:
            at = [i for i, p in enumerate(prompts) if len(p.passages) == size]
            rows = [
                (
                    (cut_query(prompts[i].query.text, template.max_words),) * queries
                    + tuple(c.text for c in prompts[i].passages)
                )
                for i in at
            ]
            layout = self._list_layout(kind, template, size)
            counts.update(zip(at, layout.counts(rows), strict=True))
        return [counts[i] for i in range(len(prompts))]

    def _list_layout(self, kind: str, template: PromptTemplate, size: int) -> _Layout:
        """Slots: each occurrence of {query} in the template, then each passage."""
        if (kind, size) not in self._lists:
            queries = template.template.count("{query}")
            marks = [MARK.format(i) for i in range(queries + size)]
            messages = (
                template.block_messages(QUERY, marks[queries:])
                if kind == "block"
                else template.set_messages(QUERY, marks[queries:])
            )
            rendered = render(self.tokenizer, messages, template.answer_prefix)
            pieces = rendered.split(QUERY)
            if len(pieces) != queries + 1:
                raise ValueError(f"the query marker rendered {len(pieces) - 1} times")
            marked = pieces[0] + "".join(m + p for m, p in zip(marks, pieces[1:], strict=False))
            words = template.max_words
            self._lists[kind, size] = _Layout(
                self.tokenizer, self._strings, marked, (None,) * queries + (words,) * size
            )
        return self._lists[kind, size]
