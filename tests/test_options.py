"""One option parser for judge and strategy specs: the same booleans, numbers and range checks;
one aggregator option name (`agg`) for every strategy that aggregates."""

from __future__ import annotations

import pytest

from rankpipe.errors import InputError
from rankpipe.judges.spec import judge_options, parse_spec
from rankpipe.options import parse_bool, split_items, typed_value
from rankpipe.strategies.registry import make_strategy


def test_items_and_booleans() -> None:
    assert split_items(" a=1, ,b = 2,") == ["a=1", "b = 2"]
    assert [parse_bool(w) for w in ("1", "TRUE", "yes", "0", "False", "NO")] == [True] * 3 + [
        False
    ] * 3
    with pytest.raises(ValueError):
        parse_bool("maybe")


@pytest.mark.parametrize(
    ("raw", "kind", "bounds", "value"),
    [
        ("3", int, {}, 3),
        ("-3", int, {}, -3),
        ("0.25", float, {"minimum": 0, "maximum": 1}, 0.25),
        ("1e-3", float, {"minimum": 0}, 0.001),
        ("on", str, {}, "on"),
        ("yes", bool, {}, True),
    ],
)
def test_typed_values(raw: str, kind: type, bounds: dict[str, float], value: object) -> None:
    assert typed_value("x", "k", raw, kind, **bounds) == value


@pytest.mark.parametrize(
    ("raw", "kind", "bounds", "message"),
    [
        ("nan", float, {}, "k='nan' is not a valid float (a finite number)"),
        ("-inf", float, {}, "finite"),
        ("1e999", float, {}, "finite"),
        ("", float, {}, "k='' is not a valid float"),
        ("1.5", int, {}, "k='1.5' is not a valid int"),
        ("-1", int, {"minimum": 0}, "k='-1' must be at least 0"),
        ("1.01", float, {"maximum": 1}, "must be at most 1"),
        ("on", bool, {}, "not a valid bool"),
    ],
)
def test_typed_values_refused(raw: str, kind: type, bounds: dict[str, float], message: str) -> None:
    with pytest.raises(InputError) as error:
        typed_value("judge sim:k", "k", raw, kind, **bounds)
    assert str(error.value).startswith("judge sim:k: option ") and message in str(error.value)


def test_judge_options_are_non_negative_and_finite_by_default() -> None:
    """Judge options are read through their backend's declaration (rankpipe.judges.options)."""
    for spec in ("backoff=-1", "timeout=inf", "retries=-2", "concurrency=0", "recheck=nan"):
        with pytest.raises(InputError, match="judge openai:m@http://h/v1,"):
            judge_options(parse_spec(f"openai:m@http://h/v1,{spec}"))
    options = judge_options(parse_spec("openai:m@http://h/v1,concurrency=2,timeout=5"))
    assert (options.concurrency, options.timeout, options.backoff) == (2, 5.0, 0.5)
    assert judge_options(parse_spec("hf:m,prefix_reuse=yes")).prefix_reuse is True


def test_judge_specs_refuse_repeated_and_nameless_options() -> None:
    assert parse_spec("openai:m@http://h:1/v1,retries=2").target == "m@http://h:1/v1"
    for spec, message in (("sim:noise=1,noise=2", "given twice"), ("sim:=1", "names no option")):
        with pytest.raises(InputError, match=message):
            parse_spec(spec)


@pytest.mark.parametrize(
    "spec", ["sparse:agg=borda", "jointrank:agg=pagerank", "allpairs:agg=probabilities"]
)
def test_agg_names_the_aggregator_of_every_strategy(spec: str) -> None:
    assert make_strategy(spec).agg == spec.rpartition("=")[2]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "spec", ["sparse:aggregator=borda", "allpairs:aggregate=probabilities", "jointrank:agg=bt"]
)
def test_one_name_for_the_aggregator(spec: str) -> None:
    with pytest.raises(InputError, match="agg"):
        make_strategy(spec)


def test_strategy_options_use_the_same_parser() -> None:
    assert make_strategy("mergesort:full=YES") == make_strategy("mergesort:full=1")
    with pytest.raises(InputError, match="option per_candidate='nan' is not a valid float"):
        make_strategy("sparse:per_candidate=nan")
    with pytest.raises(InputError, match="option agg is given twice"):
        make_strategy("sparse:agg=borda,agg=winrate")
