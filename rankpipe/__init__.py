"""rankpipe: rerank and evaluate search results with LLM pairwise judgments."""

from rankpipe.data.types import Candidate, Query, QueryCandidates, Ranking, Run

__all__ = ["Candidate", "Query", "QueryCandidates", "Ranking", "Run"]
__version__ = "0.1.0"
