"""Retrieved few-shot examples: from the most similar training queries, never the test query, the
same for every prompt of a query, in the judge's identity, and rendered by the prompt encoder."""

from __future__ import annotations

import pytest

from rankpipe.data.types import Candidate, Query
from rankpipe.errors import InputError
from rankpipe.judges.base import PairPrompt
from rankpipe.judges.fewshot import ExampleRetriever, TrainingQuery, training_queries
from rankpipe.judges.prompts import encode_pairs, load_prompt

TRAINING = [
    TrainingQuery("t1", "how long do tomato seeds take to germinate", "sprout in a week", "red"),
    TrainingQuery("t2", "what does a carburetor do in an engine", "mixes air and fuel", "cars"),
    TrainingQuery("t3", "tomato plant watering schedule", "water twice a week", "sauce"),
    TrainingQuery("t4", "history of the roman empire", "founded 27 BC", "pizza"),
]


class CharTokenizer:
    """A tokenizer without a chat template: one id per character."""

    chat_template = None

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        return {"input_ids": [ord(c) for c in text]}


def test_examples_come_from_the_most_similar_training_queries() -> None:
    retriever = ExampleRetriever("toy", TRAINING, shots=2)
    examples = retriever.examples(Query("x", "when do tomato seeds germinate"))
    assert [e.query for e in examples] == [TRAINING[0].text, TRAINING[2].text]
    # a relevant and a non-relevant passage of each, the relevant one first, then second
    assert (examples[0].passage_a, examples[0].passage_b, examples[0].answer) == (
        "sprout in a week",
        "red",
        "A",
    )
    assert (examples[1].passage_a, examples[1].passage_b, examples[1].answer) == (
        "sauce",
        "water twice a week",
        "B",
    )


def test_the_test_query_is_never_its_own_example() -> None:
    retriever = ExampleRetriever("toy", TRAINING, shots=3)
    for t in TRAINING:
        by_qid = retriever.examples(Query(t.qid, t.text))
        by_text = retriever.examples(Query("other-id", t.text.upper() + "?"))
        assert len(by_qid) == len(by_text) == 3
        assert all(e.query != t.text for e in (*by_qid, *by_text))


def test_every_prompt_of_a_query_gets_the_same_examples_and_the_prefix_is_shared() -> None:
    retriever = ExampleRetriever("toy", TRAINING, shots=2)
    template = load_prompt("prp_fewshot")
    query = Query("x", "tomato seed germination")
    prompts = [
        PairPrompt(query, Candidate("a", "first passage"), Candidate("b", "second passage")),
        PairPrompt(query, Candidate("c", "third one"), Candidate("a", "first passage")),
    ]
    one, two = encode_pairs(template, CharTokenizer(), prompts, fewshot=retriever)
    text = "".join(map(chr, one))
    assert "sprout in a week" in text and "water twice a week" in text
    assert "carburetor" not in text and "Tomato plants need" not in text  # not the fixed ones
    shared = next(i for i, (x, y) in enumerate(zip(one, two, strict=False)) if x != y)
    prefix = "".join(map(chr, one[:shared]))  # both examples, answered, then the query
    assert prefix.count("Output Passage A or Passage B") == 2 and query.text in prefix
    plain = encode_pairs(template, CharTokenizer(), prompts)[0]
    assert "Tomato plants need" in "".join(map(chr, plain))


def test_the_identity_names_the_training_set_and_shots() -> None:
    identity = ExampleRetriever("toy", TRAINING, shots=2).identity
    assert identity.startswith("fewshot=toy#") and "shots=2" in identity
    assert ExampleRetriever("toy", TRAINING, shots=1).identity != identity
    assert ExampleRetriever("toy", TRAINING[:3], shots=2).identity != identity


def test_bad_settings_are_input_errors() -> None:
    with pytest.raises(InputError, match="shots"):
        ExampleRetriever("toy", TRAINING, shots=0)
    with pytest.raises(InputError, match="pairwise"):
        ExampleRetriever("toy", TRAINING).template_for(load_prompt("rankgpt"), Query("x", "y"))


def test_dl19_examples_leave_the_test_query_out(dl19) -> None:  # noqa: ANN001
    training = training_queries(dl19)
    assert len(training) >= 40
    retriever = ExampleRetriever("dl19", training, shots=2)
    for item in dl19.candidates[:10]:
        examples = retriever.examples(item.query)
        assert len(examples) == 2 and item.query.text not in {e.query for e in examples}
