"""Block designs: valid for many (n, size, replicas), deterministic, clear about their limits."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankpipe.errors import InputError
from rankpipe.strategies.designs import DESIGNS, LatinDesign, check_design, make_design

REPLICATED = ["random", "latin", "sliding"]


def assert_valid(blocks: list[tuple[int, ...]], n: int, size: int, replicas: int) -> None:
    report = check_design(blocks, n)  # raises on a repeated or foreign candidate
    assert all(list(b) == sorted(b) for b in blocks), "members are listed in first-stage order"
    assert report.largest_block <= size
    assert report.connected
    if n <= size:
        assert blocks == [tuple(range(n))]
    else:
        assert set(report.replication) == {replicas}


def refuses(design: str, n: int, size: int, replicas: int) -> bool:
    """The documented limits: grid lines longer than a block or too few Latin squares, windows
    smaller than replicas."""
    if design == "latin":
        t = math.isqrt(n - 1) + 1
        return size < t or replicas > 2 + len(LatinDesign.square_slopes(t))
    return design == "sliding" and size < replicas


@settings(max_examples=150, deadline=None)
@given(
    design=st.sampled_from(REPLICATED),
    n=st.integers(2, 160),
    size=st.integers(2, 30),
    replicas=st.integers(2, 6),
    seed=st.integers(0, 2**16),
)
def test_replicated_designs_are_valid(
    design: str, n: int, size: int, replicas: int, seed: int
) -> None:
    if n > size and refuses(design, n, size, replicas):
        with pytest.raises(InputError):
            make_design(design).blocks(n, size, replicas, seed)
        return
    blocks = make_design(design).blocks(n, size, replicas, seed)
    assert_valid(blocks, n, size, replicas)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(2, 160), size=st.integers(2, 30))
def test_triangular_design_is_valid(n: int, size: int) -> None:
    blocks = make_design("triangular").blocks(n, size, 2)
    assert_valid(blocks, n, size, 2)
    if n > size:  # every candidate is a distinct pair of blocks: two blocks share at most one
        for a, b in itertools.combinations(blocks, 2):
            assert len(set(a) & set(b)) <= 1


def test_latin_square_with_two_replicas_is_rows_and_columns() -> None:
    blocks = make_design("latin").blocks(25, 5, 2)
    rows = [tuple(range(5 * i, 5 * i + 5)) for i in range(5)]
    columns = [tuple(range(j, 25, 5)) for j in range(5)]
    assert blocks == rows + columns


def test_latin_squares_for_a_prime_grid_are_mutually_orthogonal() -> None:
    """With t prime all t+1 parallel classes exist and any two candidates share one block."""
    blocks = make_design("latin").blocks(49, 7, 8)
    assert check_design(blocks, 49).pair_coverage == 1.0
    for a, b in itertools.combinations(range(49), 2):
        assert sum(a in block and b in block for block in blocks) == 1


@pytest.mark.parametrize("t", range(2, 17))
def test_every_square_slope_gives_a_latin_square(t: int) -> None:
    for c in LatinDesign.square_slopes(t):
        square = [[(i + c * j) % t for j in range(t)] for i in range(t)]
        assert all(sorted(row) == list(range(t)) for row in square)
        assert all(sorted(column) == list(range(t)) for column in zip(*square, strict=True))


def test_triangular_pbibd_for_its_own_size() -> None:
    """n = k(k+1)/2: k+1 blocks of k, every two blocks share exactly one candidate."""
    blocks = make_design("triangular").blocks(55, 10, 2)
    assert len(blocks) == 11 and {len(b) for b in blocks} == {10}
    assert all(len(set(a) & set(b)) == 1 for a, b in itertools.combinations(blocks, 2))


def test_sliding_windows_overlap_circularly() -> None:
    blocks = make_design("sliding").blocks(100, 20, 4)
    assert len(blocks) == 20
    assert blocks[0] == tuple(range(20)) and blocks[1] == tuple(range(5, 25))
    assert blocks[-1] == tuple(range(15)) + tuple(range(95, 100))


def test_random_design_is_seeded() -> None:
    design = make_design("random")
    assert design.blocks(100, 20, 4, seed=7) == design.blocks(100, 20, 4, seed=7)
    assert design.blocks(100, 20, 4, seed=7) != design.blocks(100, 20, 4, seed=8)


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_deterministic_designs_ignore_the_seed(name: str) -> None:
    if name != "random":
        replicas = 2
        assert make_design(name).blocks(60, 10, replicas, 1) == make_design(name).blocks(
            60, 10, replicas, 2
        )


def test_report_counts_covered_pairs() -> None:
    report = check_design([(0, 1, 2), (2, 3)], 4)
    assert report.pairs_covered == 4 and report.pair_coverage == pytest.approx(4 / 6)
    assert report.connected and report.replication == (1, 1, 2, 1)
    assert not check_design([(0, 1), (2, 3)], 4).connected
    assert not check_design([(0, 1)], 3).connected
    with pytest.raises(ValueError, match="repeats"):
        check_design([(0, 0, 1)], 2)


def test_the_paper_setting_covers_more_pairs_with_latin_than_random() -> None:
    random_report = check_design(make_design("random").blocks(100, 20, 4, seed=0), 100)
    latin_report = check_design(make_design("latin").blocks(100, 20, 4), 100)
    assert random_report.blocks == latin_report.blocks == 20
    assert latin_report.pair_coverage > random_report.pair_coverage > 0.5


@pytest.mark.parametrize(
    ("name", "n", "size", "replicas", "message"),
    [
        ("random", 100, 20, 1, "replicas=1"),
        ("latin", 100, 1, 2, "at least 2"),
        ("sliding", 100, 20, 0, "at least 1"),
        ("triangular", 100, 10, 4, "exactly 2 blocks"),
        ("latin", 100, 20, 7, "at most 6 replicas"),
        ("sliding", 100, 3, 4, "smaller than replicas"),
        ("latin", 100, 9, 2, "use block >= 10"),
    ],
)
def test_impossible_designs_say_why(
    name: str, n: int, size: int, replicas: int, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        make_design(name).blocks(n, size, replicas)


def test_unknown_design_is_an_input_error() -> None:
    with pytest.raises(InputError, match="expected one of random, latin, triangular, sliding"):
        make_design("magic")
