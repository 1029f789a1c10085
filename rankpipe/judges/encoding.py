"""What a tokenizer makes of a prompt template: the text a model continues (through its chat
template when it has one, the answer prefix appended) and its token ids, for the backends that
drive a tokenizer themselves (`hf`, `vllm`; `openai` renders with `format=chat`).

`render_pair` / `render_block` (and `render` for any turns) give the text; `encode_prompt` tokenizes
it (`encode_pairs` / `encode_blocks` a call's prompts); `encode_pairs_with_prefixes` also finds how
many leading tokens a pairwise prompt shares with the other prompts of its query (and of its first
passage), for prefix reuse; `answer_token_ids` gives the tokens whose log-probabilities decide a
pairwise or setwise answer, and `permutation_token_budget` bounds a listwise answer's length. The
templates themselves (files, validation, digests, the question text) are
`rankpipe.judges.prompts`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rankpipe.errors import InputError
from rankpipe.judges.base import BlockPrompt, PairPrompt

if TYPE_CHECKING:
    from rankpipe.judges.fewshot import ExampleRetriever
    from rankpipe.judges.prompts import PromptTemplate


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
                tokenizer,
                p.query.text,
                p.a.text,
                p.b.text,
                prefix,
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
        query_chars.append(
            _shared_chars(
                render_pair(template, tokenizer, q, "\x00", "\x02"),
                render_pair(template, tokenizer, q, "\x01", "\x02"),
            )
        )
        passage_chars.append(
            _shared_chars(
                render_pair(template, tokenizer, q, a, "\x00"),
                render_pair(template, tokenizer, q, a, "\x01"),
            )
        )
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
