"""The strategy specs the strategy tests run (the drivers are tests/drivers.py)."""

from __future__ import annotations

EXACT = [
    "allpairs",
    "allpairs:agg=probabilities",
    "sliding",
    "heapsort",
    "heapsort:sift=sequential",
    "heapsort:sift=children",
    "quicksort",
    "quicksort:pivots=3,allpairs_size=4",
    "quickselect",
    "quickselect:pivots=2",
    "quickselect:allpairs_size=1,pivot_at=1",
    "mergesort",
    "mergesort:full=true",
    "tournament",
    "tournament:full=true",
    "quickselect:full=true",
]
"""Specs that find the exact top-k for any consistent judge (sliding with passes = top_k)."""

FULL_ORDERS = [
    "allpairs",
    "allpairs:agg=probabilities",
    "quicksort",
    "quicksort:pivots=3,allpairs_size=4",
    "mergesort:full=true",
]
"""Exact specs that order all n candidates."""

ANY = [
    *EXACT,
    "sliding:variant=odd-even",
    "sliding:passes=2,full=true",
    "sparse",
    "sparse:sampler=random,agg=bradley-terry,per_candidate=2",
    "sparse:sampler=biased,agg=pagerank",
    "sparse:agg=kwiksort,budget=7",
    "sparse:agg=borda",
]
