"""Prompt templates as data: TOML files under `prompts/`, chosen by name, validated when loaded.

A pairwise template has placeholders {query}, {passage_a}, {passage_b}, an `answer_prefix` that the
model's answer continues (e.g. "Passage"), and two `choices` (e.g. "A", "B"); optional `examples`
(few-shot) are rendered with the same template and answered before the real question. A listwise
template has {query}, {num} and {passages}, and a `passage_format` with {id} and {text}. Passages
are cut to `max_words` words."""

from __future__ import annotations

import hashlib
import string
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rankpipe.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PLACEHOLDERS = {"pairwise": {"query", "passage_a", "passage_b"}, "listwise": {"query", "num", "passages"}}


def prompt_dirs() -> list[Path]:
    """Installed copy first (rankpipe/prompts in a wheel), then the source tree's prompts/."""
    package = Path(__file__).resolve().parent.parent
    return [package / "prompts", package.parent / "prompts"]


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
        """A short hash of everything that shapes the prompt: part of a judge's cache identity."""
        return hashlib.sha256(repr(self).encode("utf-8")).hexdigest()[:12]

    def pair_turns(self, query: str, passage_a: str, passage_b: str) -> list[tuple[str, str]]:
        """(user text, assistant answer) turns: the few-shot examples, then the question with answer ""."""
        turns = [
            (self._pair(e.query, e.passage_a, e.passage_b), f"{self.answer_prefix} {e.answer}")
            for e in self.examples
        ]
        turns.append((self._pair(query, passage_a, passage_b), ""))
        return turns

    def _pair(self, query: str, passage_a: str, passage_b: str) -> str:
        return self.template.format(
            query=query, passage_a=truncate(passage_a, self.max_words), passage_b=truncate(passage_b, self.max_words)
        )

    def block(self, query: str, passages: list[str]) -> str:
        """The listwise question for passages shown as identifiers 1..k."""
        shown = "\n".join(
            self.passage_format.format(id=i, text=truncate(p, self.max_words)) for i, p in enumerate(passages, start=1)
        )
        return self.template.format(query=query, num=len(passages), passages=shown)


def truncate(text: str, max_words: int) -> str:
    words = text.split()
    return " ".join(words[:max_words])


@lru_cache(maxsize=None)
def load_prompt(name_or_path: str) -> PromptTemplate:
    """Load a template by name (`prp`, `prp_fewshot`, `rankgpt`) or from a .toml path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        found = [d / f"{name_or_path}.toml" for d in prompt_dirs() if (d / f"{name_or_path}.toml").is_file()]
        if not found:
            known = sorted({p.stem for d in prompt_dirs() if d.is_dir() for p in d.glob("*.toml")})
            raise InputError(f"unknown prompt {name_or_path!r}; known: {', '.join(known)}")
        path = found[0]
    if not path.is_file():
        raise InputError(f"{path}: no such prompt file")
    try:
        record = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{path}: invalid TOML ({error})") from None
    return _validated(path, record)


def _validated(path: Path, record: dict) -> PromptTemplate:
    kind = record.get("kind")
    if kind not in PLACEHOLDERS:
        raise InputError(f"{path}: `kind` must be pairwise or listwise, got {kind!r}")
    for key in ("template", "answer_prefix"):
        if not isinstance(record.get(key), str):
            raise InputError(f"{path}: `{key}` (a string) is required")
    used = {field for _, field, _, _ in string.Formatter().parse(record["template"]) if field is not None}
    if used != PLACEHOLDERS[kind]:
        raise InputError(
            f"{path}: a {kind} template uses exactly {{{'}, {'.join(sorted(PLACEHOLDERS[kind]))}}}; "
            f"found {{{'}, {'.join(sorted(used))}}}"
        )
    choices = tuple(record.get("choices", ()))
    if kind == "pairwise" and len(choices) != 2:
        raise InputError(f"{path}: a pairwise template needs two `choices`, e.g. [\"A\", \"B\"]")
    if kind == "listwise":
        fmt_fields = {f for _, f, _, _ in string.Formatter().parse(record.get("passage_format", "[{id}] {text}")) if f}
        if fmt_fields != {"id", "text"}:
            raise InputError(f"{path}: `passage_format` must use {{id}} and {{text}}")
    try:
        examples = tuple(Example(**e) for e in record.get("examples", ()))
    except TypeError:
        raise InputError(f"{path}: each example needs query, passage_a, passage_b and answer") from None
    if any(e.answer not in choices for e in examples):
        raise InputError(f"{path}: example answers must be one of {choices}")
    return PromptTemplate(
        name=path.stem,
        kind=kind,
        template=record["template"],
        answer_prefix=record["answer_prefix"],
        choices=choices,
        passage_format=record.get("passage_format", "[{id}] {text}"),
        max_words=int(record.get("max_words", 200)),
        examples=examples,
        description=record.get("description", ""),
    )
