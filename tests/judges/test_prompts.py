"""Prompt templates: the shipped files load and render; malformed files fail with a message that
names the file and what is wrong; rendering through a real chat template and without one; a long
query cut to the template's max_words in every form."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from rankpipe.data.types import Candidate, Query
from rankpipe.errors import InputError
from rankpipe.judges.base import BlockPrompt, PairPrompt
from rankpipe.judges.encoding import (
    answer_token_ids,
    encode_blocks,
    encode_pairs,
    encode_pairs_with_prefixes,
    encode_prompt,
    render,
    render_block,
    render_pair,
)
from rankpipe.judges.prompts import cut_query, known_prompts, load_prompt

PAIRWISE = '''
kind = "pairwise"
template = """Query: {query}
A: {passage_a}
B: {passage_b}
Which is more relevant?"""
answer_prefix = "Passage"
choices = ["A", "B"]
'''


def write(tmp_path: Path, text: str, name: str = "custom.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_shipped_prompts_load_with_their_kinds() -> None:
    assert {"prp", "prp_fewshot", "rankgpt"} <= set(known_prompts())
    assert load_prompt("prp").kind == "pairwise"
    assert load_prompt("prp").choices == ("A", "B")
    assert len(load_prompt("prp_fewshot").examples) == 2
    assert load_prompt("rankgpt").kind == "listwise"


def test_pair_and_block_text() -> None:
    prp = load_prompt("prp")
    ((question, answer),) = prp.pair_turns("q?", "first passage", "second passage")
    assert answer == ""
    assert 'Passage A: "first passage"' in question and 'Passage B: "second passage"' in question
    block = load_prompt("rankgpt").block("q?", ["one", "two words here", "three"])
    assert "[1] one\n[2] two words here\n[3] three" in block
    assert "I will provide you with 3 passages" in block


def test_passages_are_cut_to_max_words(tmp_path: Path) -> None:
    template = load_prompt(write(tmp_path, PAIRWISE + "max_words = 3\n"))
    ((question, _),) = template.pair_turns("q", "one two three four five", "six")
    assert "A: one two three\n" in question


def test_custom_file_loads_and_its_digest_follows_the_template(tmp_path: Path) -> None:
    first = load_prompt(write(tmp_path, PAIRWISE, "first.toml"))
    renamed = load_prompt(write(tmp_path, PAIRWISE + 'description = "same text"\n', "second.toml"))
    changed = load_prompt(write(tmp_path, PAIRWISE.replace("Which", "Which one"), "third.toml"))
    assert first.name == "first"
    assert first.digest == renamed.digest  # name and description do not shape the prompt
    assert first.digest != changed.digest


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (PAIRWISE.replace("B: {passage_b}\n", ""), "found {passage_a}, {query}"),
        (PAIRWISE.replace("Which", "{extra} Which"), "exactly {passage_a}, {passage_b}, {query}"),
        (PAIRWISE.replace('"pairwise"', '"pointwise"'), "`kind` must be pairwise or listwise"),
        (PAIRWISE.replace('choices = ["A", "B"]', 'choices = ["A"]'), "needs two `choices`"),
        (PAIRWISE.replace('choices = ["A", "B"]', 'choices = "AB"'), "`choices` must be a list"),
        (PAIRWISE.replace('answer_prefix = "Passage"\n', ""), "`answer_prefix` (a string)"),
        (PAIRWISE.replace("Which", "{query Which"), "`template` is not a valid template"),
        (PAIRWISE + "answer_prefx = 'x'\n", "unknown key(s) answer_prefx"),
        (PAIRWISE + "max_words = 0\n", "`max_words` must be a positive integer"),
        (
            PAIRWISE
            + "[[examples]]\nquery = 'q'\npassage_a = 'a'\npassage_b = 'b'\nanswer = 'C'\n",
            "example answers must be one of",
        ),
        (PAIRWISE + "[[examples]]\nquery = 'q'\n", "each example needs query, passage_a"),
        (
            "kind = 'listwise'\nanswer_prefix = '['\ntemplate = '{query} {num} {passages}'\n"
            "passage_format = '{text}'\n",
            "`passage_format` must use {id} and {text}",
        ),
        ("kind = [unclosed", "invalid TOML"),
    ],
)
def test_malformed_files_are_input_errors(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError, match="custom.toml") as error:
        load_prompt(path)
    assert message in str(error.value)


def test_unknown_name_and_missing_file() -> None:
    with pytest.raises(InputError, match=r"unknown prompt 'prp_typo'; known: .*prp_fewshot"):
        load_prompt("prp_typo")
    with pytest.raises(InputError, match="no such prompt file"):
        load_prompt("/nonexistent/prompt.toml")


def test_render_pair_through_a_chat_template(smollm2_tokenizer: Any) -> None:
    text = render_pair(load_prompt("prp"), smollm2_tokenizer, "q?", "first", "second")
    assert text.startswith("<|im_start|>system\n")
    assert '<|im_start|>user\nGiven a query "q?"' in text
    assert text.endswith("Output Passage A or Passage B:<|im_end|>\n<|im_start|>assistant\nPassage")
    ids = encode_prompt(smollm2_tokenizer, text)
    assert ids[0] == smollm2_tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert ids.count(ids[0]) == 3  # system, user, assistant: none added twice


def test_few_shot_examples_are_answered_assistant_turns(smollm2_tokenizer: Any) -> None:
    text = render_pair(load_prompt("prp_fewshot"), smollm2_tokenizer, "q?", "first", "second")
    assert text.count("<|im_start|>user\n") == 3
    assert text.count("<|im_start|>assistant\nPassage B<|im_end|>") == 1
    assert text.count("<|im_start|>assistant\nPassage A<|im_end|>") == 1
    assert text.index("tomato seeds") < text.index("carburetor") < text.index('"q?"')


def test_render_without_a_chat_template_is_plain_text(bert_tokenizer: Any) -> None:
    fewshot = load_prompt("prp_fewshot")
    text = render_pair(fewshot, bert_tokenizer, "q?", "first", "second")
    assert "Output Passage A or Passage B:\nPassage B\n\nGiven a query" in text
    assert text.endswith("Output Passage A or Passage B:\nPassage")
    bare = render_pair(fewshot, bert_tokenizer, "q?", "first", "second", prefix=False)
    assert bare.endswith("Output Passage A or Passage B:")
    ids = encode_prompt(bert_tokenizer, bare)
    assert ids[0] == bert_tokenizer.cls_token_id  # plain text gets the tokenizer's own specials
    block = render_block(load_prompt("rankgpt"), bert_tokenizer, "q?", ["one", "two"])
    assert block.endswith("do not say any word or explain.\n[")


def test_answer_tokens_follow_the_prefix(smollm2_tokenizer: Any, tmp_path: Path) -> None:
    tokenizer = smollm2_tokenizer
    assert answer_token_ids(tokenizer, load_prompt("prp")) == (
        tokenizer.encode(" A")[0],
        tokenizer.encode(" B")[0],
    )
    alike = load_prompt(write(tmp_path, PAIRWISE.replace('["A", "B"]', '["AA1", "AA2"]')))
    with pytest.raises(InputError, match="start with the same token"):
        answer_token_ids(tokenizer, alike)


def test_a_long_query_is_cut_to_max_words_in_every_form(smollm2_tokenizer: Any) -> None:
    """The cut is made where every backend's question text is made (hf, vllm and openai alike): a
    query of 100,000 characters gives prompts of a few hundred tokens, not some 36,000."""
    tokenizer = smollm2_tokenizer
    long = " ".join(f"w{i}" for i in range(16_000))
    assert len(long) > 100_000
    query, a, b = Query("q1", long), Candidate("a", "nectar"), Candidate("b", "aphids")
    prp, rankgpt, setwise = load_prompt("prp"), load_prompt("rankgpt"), load_prompt("setwise")

    def prompts(text: str) -> list[list[int]]:
        shown = setwise.set_messages(text, [a.text, b.text])
        return [
            *encode_pairs(prp, tokenizer, [PairPrompt(Query("q1", text), a, b)]),
            *encode_blocks(rankgpt, tokenizer, [BlockPrompt(Query("q1", text), (a, b))]),
            encode_prompt(tokenizer, render(tokenizer, shown, setwise.answer_prefix)),
        ]

    cut = prompts(long)
    for ids, template in zip(cut, (prp, rankgpt, setwise), strict=True):
        text = tokenizer.decode(ids)
        last, next_one = rf"\bw{template.max_words - 1}\b", rf"\bw{template.max_words}\b"
        assert re.search(last, text) and not re.search(next_one, text), template.name
        assert len(ids) < 2_000, template.name  # some 50,000 tokens uncut
    first_words = [" ".join(long.split()[: t.max_words]) for t in (prp, rankgpt, setwise)]
    assert cut == [prompts(words)[i] for i, words in enumerate(first_words)]
    [prefixed] = encode_pairs_with_prefixes(prp, tokenizer, [PairPrompt(query, a, b)])
    assert prefixed.ids == cut[0]  # the prefix-reusing path runs the same tokens
    ((question, _),) = prp.pair_turns("what  do bees\teat", "x", "y")
    assert "what  do bees\teat" in question  # a query within the limit is shown as given
    assert cut_query("one  two three", 2) == "one two"
