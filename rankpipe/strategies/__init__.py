"""Reranking strategies: sorting and aggregation algorithms written as rounds of independent
requests."""

from rankpipe.strategies.base import BlockRequest, Comparison, Strategy
from rankpipe.strategies.registry import STRATEGIES, make_strategy

__all__ = ["BlockRequest", "Comparison", "STRATEGIES", "Strategy", "make_strategy"]
