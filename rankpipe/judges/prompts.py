"""Prompt templates as data: TOML files under `prompts/`, chosen by name, validated when loaded.

A pairwise template has placeholders {query}, {passage_a}, {passage_b}, an `answer_prefix` that the
model's answer continues (e.g. "Passage"), and two `choices` (e.g. "A", "B"); optional `examples`
(few-shot) are rendered with the same template and answered before the real question. A listwise
template has {query}, {num} and {passages}, and a `passage_format` with {id} and {text}; a setwise
template has {query} and {passages}, its passages labelled with its `choices` (A, B, C, ...).
Passages are cut to `max_words` words.

Backends that drive a tokenizer themselves (`hf`, `vllm`) share the rendering below:
`render_pair` / `render_block` give the text a model continues (through its chat template when it
has one, the answer prefix appended), `encode_prompt` tokenizes that text (`encode_pairs` /
`encode_blocks` a call's prompts), `answer_token_ids` gives the two tokens whose log-probabilities
decide a pairwise answer, and `permutation_token_budget` bounds a listwise answer's length. Every
model backend loads its two templates with `load_prompt_of_kind` and names them in its identity
with `prompts_identity`."""

from __future__ import annotations

import hashlib
import string
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rankpipe.errors import InputError
from rankpipe.judges.base import BlockPrompt, PairPrompt

if TYPE_CHECKING:
    from rankpipe.judges.fewshot import ExampleRetriever

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
    "kind", "description", "template", "answer_prefix", "choices", "passage_format", "max_words",
    "examples",
}


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
        """A short hash of everything that shapes the prompt (not its name or description): part
        of a judge's cache identity."""
        shape = (
            self.kind, self.template, self.answer_prefix, self.choices, self.passage_format,
            self.max_words, self.examples,
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
        return self.template.format(query=query, num=len(passages), passages=shown)

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
        return self.template.format(query=query, passages=shown)

    def set_messages(self, query: str, passages: list[str]) -> list[dict[str, str]]:
        """The setwise question as one user turn."""
        return [{"role": "user", "content": self.set_question(query, passages)}]

    def _pair(self, query: str, passage_a: str, passage_b: str) -> str:
        return self.template.format(
            query=query,
            passage_a=truncate(passage_a, self.max_words),
            passage_b=truncate(passage_b, self.max_words),
        )


def truncate(text: str, max_words: int) -> str:
    words = text.split()
    return " ".join(words[:max_words])


def has_chat_template(tokenizer: Any) -> bool:
    """Whether a Hugging Face tokenizer carries a chat template (instruction-tuned models do)."""
    return bool(getattr(tokenizer, "chat_template", None))


def render(tokenizer: Any, messages: list[dict[str, str]], answer_prefix: str) -> str:
    """The text a model continues to answer `messages`: the tokenizer's chat template with the
    assistant turn opened when it has one, else the turns as plain text (each answer on the line
    after its question, blank lines between turns); then `answer_prefix`."""
    if has_chat_template(tokenizer):
        opened = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return f"{opened}{answer_prefix}"
    contents = [m["content"] for m in messages]
    text = "\n\n".join("\n".join(contents[i : i + 2]) for i in range(0, len(contents), 2))
    return f"{text}\n{answer_prefix}" if answer_prefix else text


def render_pair(
    template: PromptTemplate,
    tokenizer: Any,
    query: str,
    passage_a: str,
    passage_b: str,
    prefix: bool = True,
) -> str:
    """A pairwise prompt ready for a completion model: it ends where the choice token comes. With
    `prefix=False` the answer prefix is left out (an encoder-decoder model's decoder takes it)."""
    messages = template.pair_messages(query, passage_a, passage_b)
    return render(tokenizer, messages, template.answer_prefix if prefix else "")


def render_block(
    template: PromptTemplate, tokenizer: Any, query: str, passages: list[str], prefix: bool = True
) -> str:
    """A listwise prompt ready for a completion model, ending with the answer prefix (e.g. "[")."""
    messages = template.block_messages(query, passages)
    return render(tokenizer, messages, template.answer_prefix if prefix else "")


def encode_prompt(tokenizer: Any, text: str) -> list[int]:
    """Token ids of a rendered prompt. Text from a chat template already holds its special tokens,
    so none are added to it; plain text gets the tokenizer's usual ones (e.g. a BOS token)."""
    special = not has_chat_template(tokenizer)
    return list(tokenizer(text, add_special_tokens=special)["input_ids"])


def encode_pairs(
    template: PromptTemplate,
    tokenizer: Any,
    prompts: Sequence[PairPrompt],
    prefix: bool = True,
    fewshot: ExampleRetriever | None = None,
) -> list[list[int]]:
    """Token ids of pairwise prompts rendered with `template` (see `render_pair`); with `fewshot`,
    each query's retrieved examples replace the template's (rankpipe.judges.fewshot)."""
    return [
        encode_prompt(
            tokenizer,
            render_pair(
                fewshot.template_for(template, p.query) if fewshot else template,
                tokenizer, p.query.text, p.a.text, p.b.text, prefix,
            ),
        )
        for p in prompts
    ]


@dataclass(frozen=True)
class EncodedPair:
    """A pairwise prompt's token ids, and how many of its first tokens it shares with every prompt
    of its query (`query_prefix`: instruction, few-shot examples, query) and with every prompt of
    its query and first passage (`passage_prefix`). Both are prefixes of `ids` itself and leave at
    least one token after them, so a model state cached for `ids[:n]` is exact for any prompt that
    begins with the same tokens."""

    ids: list[int]
    query_prefix: int
    passage_prefix: int


def encode_pairs_with_prefixes(
    template: PromptTemplate,
    tokenizer: Any,
    prompts: Sequence[PairPrompt],
    fewshot: ExampleRetriever | None = None,
) -> list[EncodedPair]:
    """Token ids of pairwise prompts (the same as `encode_pairs`, in one tokenizer call) with the
    lengths of their shared prefixes. The prefixes' ends are found in characters by rendering the
    prompt with one-character stand-ins for the passages (where two renderings first differ), then
    mapped to the tokens that end before them, less one token in case the tokenizer merges across
    the boundary."""
    texts, query_chars, passage_chars = [], [], []
    base = template
    for p in prompts:
        template = fewshot.template_for(base, p.query) if fewshot else base
        q, a, b = p.query.text, p.a.text, p.b.text
        texts.append(render_pair(template, tokenizer, q, a, b))
        query_chars.append(_shared_chars(
            render_pair(template, tokenizer, q, "\x00", "\x02"),
            render_pair(template, tokenizer, q, "\x01", "\x02"),
        ))
        passage_chars.append(_shared_chars(
            render_pair(template, tokenizer, q, a, "\x00"),
            render_pair(template, tokenizer, q, a, "\x01"),
        ))
    special = not has_chat_template(tokenizer)
    encoded = tokenizer(texts, add_special_tokens=special, return_offsets_mapping=True)
    pairs = []
    for ids, offsets, q_end, a_end in zip(
        encoded["input_ids"], encoded["offset_mapping"], query_chars, passage_chars, strict=True
    ):
        ends = [end for _, end in offsets]
        last = len(ids) - 1
        query_prefix = min(max(_tokens_before(ends, q_end) - 1, 1), last)
        passage_prefix = min(max(_tokens_before(ends, a_end) - 1, query_prefix), last)
        pairs.append(EncodedPair(list(ids), query_prefix, passage_prefix))
    return pairs


def _shared_chars(x: str, y: str) -> int:
    differ = (i for i, (u, v) in enumerate(zip(x, y, strict=False)) if u != v)
    return next(differ, min(len(x), len(y)))


def _tokens_before(ends: list[int], boundary: int) -> int:
    """How many leading tokens end at or before character `boundary`."""
    count = 0
    for end in ends:
        if end > boundary:
            break
        count += 1
    return count


def encode_blocks(
    template: PromptTemplate, tokenizer: Any, prompts: Sequence[BlockPrompt], prefix: bool = True
) -> list[list[int]]:
    """Token ids of listwise prompts rendered with `template` (see `render_block`)."""
    return [
        encode_prompt(
            tokenizer,
            render_block(template, tokenizer, p.query.text, [c.text for c in p.passages], prefix),
        )
        for p in prompts
    ]


def answer_token_ids(tokenizer: Any, template: PromptTemplate) -> tuple[int, ...]:
    """The token that starts each choice right after the answer prefix ("Passage" -> " A", " B"):
    the first token where the tokenized "PREFIX CHOICE" departs from the tokenized prefix."""
    prefix, joiner = template.answer_prefix, " " if template.answer_prefix else ""
    prefix_ids = tokenizer(prefix, add_special_tokens=False)["input_ids"]
    ids = []
    for choice in template.choices:
        full = tokenizer(f"{prefix}{joiner}{choice}", add_special_tokens=False)["input_ids"]
        departs = next(
            (i for i, (x, y) in enumerate(zip(prefix_ids, full, strict=False)) if x != y),
            min(len(prefix_ids), len(full)),
        )
        if departs >= len(full):
            raise InputError(
                f"prompt {template.name}: choice {choice!r} adds no token after {prefix!r}"
            )
        ids.append(full[departs])
    if len(set(ids)) != len(ids):
        raise InputError(
            f"prompt {template.name}: choices {list(template.choices)} start with the same token "
            "for this tokenizer; pick choices that differ in their first token"
        )
    return tuple(ids)


def permutation_token_budget(tokenizer: Any, k: int) -> int:
    """Tokens enough to write all k identifiers as "k] > [k-1] > ... [1]", plus some slack."""
    worst = "] > [".join(str(i) for i in range(k, 0, -1)) + "]"
    return len(tokenizer(worst, add_special_tokens=False)["input_ids"]) + 8


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
        raise InputError(f"{path}: a pairwise template needs two `choices`, e.g. [\"A\", \"B\"]")
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
