"""Judge options declared once (rankpipe/judges/options.py): parsing, help and identities follow
from the declaration, and identities are what they were before the declaration existed."""

from __future__ import annotations

import dataclasses

import pytest

from rankpipe.errors import InputError
from rankpipe.judges.options import BACKEND_OPTIONS, HFOptions, SimOptions
from rankpipe.judges.simulated import OverlapJudge, SimulatedJudge
from rankpipe.judges.spec import backends_help, judge_options, parse_spec
from rankpipe.options import canonical, describe, info


@pytest.mark.parametrize("backend", sorted(BACKEND_OPTIONS))
def test_every_option_has_help_and_a_line_in_the_help_text(backend: str) -> None:
    cls = BACKEND_OPTIONS[backend]
    cls()  # every option has a default
    for declared in dataclasses.fields(cls):
        assert info(declared).help, f"{backend}: {declared.name} has no help"
    text = backends_help()
    for line in describe(cls):
        assert line in text


def test_a_spec_parses_to_typed_values() -> None:
    options = judge_options(parse_spec("hf:m,batch_size=4,prefix_reuse=no,dtype=bfloat16"))
    assert options == HFOptions(batch_size=4, prefix_reuse=False, dtype="bfloat16")
    sim = judge_options(parse_spec("sim:noise=0.25,seed=3,tokens=false,grades=overlap"))
    assert (sim.noise, sim.seed, sim.tokens, sim.grades) == (0.25, 3, False, "overlap")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("sim:noise=-1", "option noise='-1' must be at least 0"),
        ("sim:seed=x", "option seed='x' is not a valid int"),
        ("sim:grades=bm25", "grades must be one of overlap"),
        ("openai:m@http://h/v1,format=xml", "format must be one of chat, plain"),
        ("openai:m@http://h/v1,concurrency=0", "option concurrency='0' must be at least 1"),
        ("embed:m,beam=4", r"unknown option\(s\) beam"),
    ],
)
def test_bad_options_name_the_option(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        judge_options(parse_spec(spec))


def test_identities_are_the_canonical_rendering_and_unchanged() -> None:
    qrels = {"q": {"d": 1}}
    judge = SimulatedJudge(qrels, noise=0.1, seed=2)
    assert judge.identity.startswith("sim:qrels#")
    assert judge.identity.endswith(",noise=0.1,bias=0.0,seed=2")  # as before the declaration
    assert canonical(SimOptions(noise=0.1, seed=2)) == "noise=0.1,bias=0.0,seed=2"
    assert OverlapJudge(noise=0.2).identity == "sim:grades=overlap,noise=0.2,bias=0.0,seed=0"
    assert canonical(HFOptions(dtype="float32")) == "dtype=float32,min_mass=0.5"
    # what does not change answers is not in the identity
    assert canonical(SimOptions(latency=1.0, tokens=False)) == canonical(SimOptions())
