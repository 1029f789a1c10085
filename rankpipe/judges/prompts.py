"""Prompt templates as data: TOML files under `prompts/`, chosen by name, validated when loaded.

A pairwise template has placeholders {query}, {passage_a}, {passage_b}, an `answer_prefix` that the
model's answer continues (e.g. "Passage"), and two `choices` (e.g. "A", "B"); optional `examples`
(few-shot) are rendered with the same template and answered before the real question. A listwise
template has {query}, {num} and {passages}, and a `passage_format` with {id} and {text}; a setwise
template has {query} and {passages}, its passages labelled with its `choices` (A, B, C, ...).
Passages are cut to `max_words` words, and so is a longer query (`cut_query`), here, where every
backend's question text is made: a query of 100,000 characters makes a prompt no longer than one
of `max_words` words. Every model backend loads its templates with `load_prompt_of_kind` and names
them in its identity with `prompts_identity`.

What a tokenizer makes of a template (chat-template rendering, token ids, shared prefixes, answer
tokens) is `rankpipe.judges.encoding`; its functions are importable from here too."""

from __future__ import annotations

import hashlib
import string
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from rankpipe.errors import InputError
from rankpipe.judges.encoding import (  # noqa: F401 - importable from here, as before the split
    EncodedPair,
    answer_token_ids,
    encode_blocks,
    encode_pairs,
    encode_pairs_with_prefixes,
    encode_prompt,
    has_chat_template,
    permutation_token_budget,
    render,
    render_block,
    render_pair,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PLACEHOLDERS = {
    "pairwise": {"query", "passage_a", "passage_b"},
    "listwise": {"query", "num", "passages"},
    "setwise": {"query", "passages"},
}
KEYS = {
    "kind",
    "description",
    "template",
    "answer_prefix",
    "choices",
    "passage_format",
    "max_words",
    "examples",
}


def prompt_dirs() -> list[Path]:
    """Installed copy first (rankpipe/prompts in a wheel), then the source tree's prompts/."""
    package = Path(__file__).resolve().parent.parent
    return [package / "prompts", package.parent / "prompts"]


RENDERING = 2
"""The version of the rules that render a template into a prompt, part of every digest: 2 cuts the
query to `max_words` too (before, only passages were cut), which changes the prompts of long
queries, so the hf, vllm and openai judges' identities changed with it (their earlier cached
answers are not served for the new prompts)."""


@dataclass(frozen=True)
class Example:
    query: str
    passage_a: str
    passage_b: str
    answer: str


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    kind: str
    template: str
    answer_prefix: str
    choices: tuple[str, ...] = ()
    passage_format: str = "[{id}] {text}"
    max_words: int = 200
    examples: tuple[Example, ...] = ()
    description: str = ""

    @property
    def digest(self) -> str:
        """A short hash of everything that shapes the prompt (not its name or description), the
        rendering rules' version included: part of a judge's cache identity."""
        shape = (
            RENDERING,
            self.kind,
            self.template,
            self.answer_prefix,
            self.choices,
            self.passage_format,
            self.max_words,
            self.examples,
        )
        return hashlib.sha256(repr(shape).encode("utf-8")).hexdigest()[:12]

    def pair_turns(self, query: str, passage_a: str, passage_b: str) -> list[tuple[str, str]]:
        """(user text, assistant answer) turns: the few-shot examples, then the question with
        answer ""."""
        turns = [
            (self._pair(e.query, e.passage_a, e.passage_b), f"{self.answer_prefix} {e.answer}")
            for e in self.examples
        ]
        turns.append((self._pair(query, passage_a, passage_b), ""))
        return turns

    def pair_messages(self, query: str, passage_a: str, passage_b: str) -> list[dict[str, str]]:
        """Chat messages: each few-shot example as a user turn answered by the assistant, then the
        question as the last user turn."""
        messages = []
        for user, answer in self.pair_turns(query, passage_a, passage_b):
            messages.append({"role": "user", "content": user})
            if answer:
                messages.append({"role": "assistant", "content": answer})
        return messages

    def block(self, query: str, passages: list[str]) -> str:
        """The listwise question for passages shown as identifiers 1..k."""
        shown = "\n".join(
            self.passage_format.format(id=i, text=truncate(p, self.max_words))
            for i, p in enumerate(passages, start=1)
        )
        return self.template.format(
            query=cut_query(query, self.max_words), num=len(passages), passages=shown
        )

    def block_messages(self, query: str, passages: list[str]) -> list[dict[str, str]]:
        """The listwise question as one user turn."""
        return [{"role": "user", "content": self.block(query, passages)}]

    def set_question(self, query: str, passages: list[str]) -> str:
        """The setwise question for passages labelled with the first len(passages) `choices`."""
        if len(passages) > len(self.choices):
            raise InputError(
                f"prompt {self.name}: a set of {len(passages)} passages needs as many labels; "
                f"it has {len(self.choices)} choices"
            )
        shown = "\n\n".join(
            self.passage_format.format(id=label, text=truncate(p, self.max_words))
            for label, p in zip(self.choices, passages, strict=False)
        )
        return self.template.format(query=cut_query(query, self.max_words), passages=shown)

    def set_messages(self, query: str, passages: list[str]) -> list[dict[str, str]]:
        """The setwise question as one user turn."""
        return [{"role": "user", "content": self.set_question(query, passages)}]

    def _pair(self, query: str, passage_a: str, passage_b: str) -> str:
        return self.template.format(
            query=cut_query(query, self.max_words),
            passage_a=truncate(passage_a, self.max_words),
            passage_b=truncate(passage_b, self.max_words),
        )


def truncate(text: str, max_words: int) -> str:
    """A passage as a prompt shows it: its first `max_words` words, one space between them."""
    words = text.split()
    return " ".join(words[:max_words])


def cut_query(text: str, max_words: int) -> str:
    """The query as a prompt shows it: cut to the prompt's `max_words`, as passages are (a query
    of 100,000 characters would otherwise make every prompt of its comparisons that long). A
    query within the limit is shown exactly as given."""
    if len(text.split(maxsplit=max_words)) <= max_words:
        return text
    return truncate(text, max_words)


@cache
def load_prompt(name_or_path: str) -> PromptTemplate:
    """Load a template by name (`prp`, `prp_fewshot`, `rankgpt`) or from a .toml path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        found = [d / f"{name_or_path}.toml" for d in prompt_dirs()]
        found = [p for p in found if p.is_file()]
        if not found:
            known = ", ".join(known_prompts())
            raise InputError(f"unknown prompt {name_or_path!r}; known: {known}")
        path = found[0]
    if not path.is_file():
        raise InputError(f"{path}: no such prompt file")
    try:
        record = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{path}: invalid TOML ({error})") from None
    return _validated(path, record)


def load_prompt_of_kind(name: str, kind: str, option: str, backend: str) -> PromptTemplate:
    """The template `name` for a judge option that takes `kind` (pairwise or listwise) prompts."""
    template = load_prompt(name)
    if template.kind != kind:
        raise InputError(
            f"{backend} judge: {option}={name} is a {template.kind} prompt; "
            f"{option} takes a {kind} one"
        )
    return template


def prompts_identity(template: PromptTemplate, list_template: PromptTemplate) -> str:
    """A judge identity's part naming its pairwise and listwise templates, with their digests."""
    return (
        f"prompt={template.name}#{template.digest},"
        f"list_prompt={list_template.name}#{list_template.digest}"
    )


def known_prompts() -> list[str]:
    """Names of the templates shipped under `prompts/`."""
    return sorted({p.stem for d in prompt_dirs() if d.is_dir() for p in d.glob("*.toml")})


def _fields(path: Path, key: str, text: str) -> set[str]:
    try:
        return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError as error:
        raise InputError(f"{path}: `{key}` is not a valid template ({error})") from None


def _validated(path: Path, record: dict[str, Any]) -> PromptTemplate:
    unknown = set(record) - KEYS
    if unknown:
        found, expected = ", ".join(sorted(unknown)), ", ".join(sorted(KEYS))
        raise InputError(f"{path}: unknown key(s) {found}; expected {expected}")
    kind = record.get("kind")
    if kind not in PLACEHOLDERS:
        raise InputError(f"{path}: `kind` must be pairwise or listwise or setwise, got {kind!r}")
    for key in ("template", "answer_prefix"):
        if not isinstance(record.get(key), str):
            raise InputError(f"{path}: `{key}` (a string) is required")
    used = _fields(path, "template", record["template"])
    if used != PLACEHOLDERS[kind]:
        raise InputError(
            f"{path}: a {kind} template uses exactly {_braced(PLACEHOLDERS[kind])}; "
            f"found {_braced(used)}"
        )
    choices = record.get("choices", [])
    if not isinstance(choices, list) or not all(isinstance(c, str) and c.strip() for c in choices):
        raise InputError(f"{path}: `choices` must be a list of non-empty strings")
    if kind == "pairwise" and len(choices) != 2:
        raise InputError(f'{path}: a pairwise template needs two `choices`, e.g. ["A", "B"]')
    if kind == "setwise" and (len(choices) < 2 or len(set(choices)) != len(choices)):
        raise InputError(f"{path}: a setwise template needs two or more distinct `choices`")
    passage_format = record.get("passage_format", "[{id}] {text}")
    if kind != "pairwise" and _fields(path, "passage_format", passage_format) != {"id", "text"}:
        raise InputError(f"{path}: `passage_format` must use {{id}} and {{text}}")
    max_words = record.get("max_words", 200)
    if not isinstance(max_words, int) or max_words < 1:
        raise InputError(f"{path}: `max_words` must be a positive integer, got {max_words!r}")
    try:
        examples = tuple(Example(**e) for e in record.get("examples", ()))
    except TypeError:
        needs = "query, passage_a, passage_b and answer"
        raise InputError(f"{path}: each example needs {needs}") from None
    if any(e.answer not in choices for e in examples):
        raise InputError(f"{path}: example answers must be one of {choices}")
    return PromptTemplate(
        name=path.stem,
        kind=kind,
        template=record["template"],
        answer_prefix=record["answer_prefix"],
        choices=tuple(choices),
        passage_format=passage_format,
        max_words=max_words,
        examples=examples,
        description=record.get("description", ""),
    )


def _braced(names: set[str]) -> str:
    return ", ".join(f"{{{n}}}" for n in sorted(names)) or "none"
