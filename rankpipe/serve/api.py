"""The wire shape of `/v1/rerank` and `/v2/rerank`: the request and response of the Cohere, Jina and
vLLM rerank APIs, with rankpipe's own figures under the `rankpipe` key, and the two mappings
between it and rankpipe's plain data (a request -> QueryCandidates; an Outcome -> a response).

Documents get identifiers derived from their texts (and the query one from its text), so the
judgment cache keys a (query, passage) pair the same whichever request sent it: identical requests
share judgments, in flight or later. `relevance_score` falls with rank and lies in [0, 1]: the
strategy's scores rescaled to [0, 1] where it returns scores that differ, else 1 - rank / n."""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from rankpipe.data.types import Candidate, Query, QueryCandidates
from rankpipe.executor import Outcome
from rankpipe.extras import require

require("pydantic", "serve", "rankpipe serve")  # before it: one line naming the extra
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema  # noqa: E402


class Strict(BaseModel):
    """Unknown fields are refused (a misspelt `top_n` must not pass silently), and values are not
    converted (`"top_n": "3"` is refused, as `"return_documents": "yes"` is)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class DocumentObject(Strict):
    text: str


def _as_document(value: Any) -> Any:
    if isinstance(value, str):
        return {"text": value}
    if isinstance(value, dict):
        return value
    raise ValueError('a document is a string or an object {"text": ...}')


Document = Annotated[
    DocumentObject,
    BeforeValidator(_as_document),
    WithJsonSchema(
        {"anyOf": [{"type": "string"}, {"$ref": "#/components/schemas/DocumentObject"}]}
    ),
]


class RankpipeOptions(Strict):
    """rankpipe's own request options."""

    strategy: str | None = Field(
        None, description="one of the strategies the server allows (GET /health lists them)"
    )


class RerankRequest(Strict):
    model: str | None = Field(None, description="accepted for compatibility; the server's judge")
    query: str = Field(min_length=1)
    documents: list[Document] = Field(min_length=1)
    top_n: int | None = Field(None, ge=1, description="results to return (default: all)")
    return_documents: bool = False
    rankpipe: RankpipeOptions | None = None


class Result(BaseModel):
    index: int
    relevance_score: float
    document: DocumentObject | None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class RankpipeUsage(BaseModel):
    """What this request cost (judgments answered from the cache cost no inference)."""

    strategy: str
    top_k: int
    comparisons: int
    prompts: int
    inferences: int
    cache_hits: int
    judge_calls: int
    rounds: int
    prompt_tokens: int
    completion_tokens: int
    invalid_answers: int
    wall_s: float


class BilledUnits(BaseModel):
    search_units: int = 1


class ApiVersion(BaseModel):
    version: str


class Meta(BaseModel):
    api_version: ApiVersion
    billed_units: BilledUnits = BilledUnits()


class RerankResponse(BaseModel):
    id: str
    model: str
    results: list[Result]
    usage: Usage
    meta: Meta
    rankpipe: RankpipeUsage


class ErrorBody(BaseModel):
    type: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=10).hexdigest()


def to_candidates(request: RerankRequest) -> QueryCandidates:
    """The request as one query's candidates, in the order sent (first-stage rank = position)."""
    seen: dict[str, int] = {}
    candidates = []
    n = len(request.documents)
    for i, document in enumerate(request.documents):
        docid = _digest(document.text)
        repeat = seen[docid] = seen.get(docid, 0) + 1
        if repeat > 1:  # the same text twice: its own candidate
            docid = f"{docid}~{repeat}"
        candidates.append(Candidate(docid, document.text, float(n - i), i + 1))
    return QueryCandidates(Query(_digest(request.query), request.query), tuple(candidates))


def relevance_scores(order: Sequence[int], scores: Sequence[float] | None) -> list[float]:
    """A score in [0, 1] for each position of `order`, not rising along it: the strategy's scores
    rescaled where they are finite and differ (positions past them share the lowest), else
    1 - rank / n."""
    n = len(order)
    if scores and all(map(math.isfinite, scores)) and max(scores) > min(scores):
        top, low = max(scores), min(scores)
        rescaled = [(s - low) / (top - low) for s in scores] + [0.0] * (n - len(scores))
        falling, floor = [], 1.0
        for value in rescaled:
            floor = min(floor, value)
            falling.append(floor)
        return falling
    return [1.0 - rank / n for rank in range(n)]


def to_response(
    request: RerankRequest,
    outcome: Outcome,
    *,
    model: str,
    strategy: str,
    top_k: int,
    version: Literal["1", "2"],
) -> RerankResponse:
    """The response to `request` from its Outcome."""
    shown = outcome.order[: request.top_n] if request.top_n else outcome.order
    scores = relevance_scores(outcome.order, outcome.scores)
    results = [
        Result(
            index=index,
            relevance_score=score,
            document=request.documents[index] if request.return_documents else None,
        )
        for index, score in zip(shown, scores, strict=False)
    ]
    cost = outcome.cost
    return RerankResponse(
        id=str(uuid.uuid4()),
        model=model,
        results=results,
        usage=Usage(
            prompt_tokens=cost.prompt_tokens,
            completion_tokens=cost.completion_tokens,
            total_tokens=cost.prompt_tokens + cost.completion_tokens,
        ),
        meta=Meta(api_version=ApiVersion(version=version)),
        rankpipe=RankpipeUsage(
            strategy=strategy,
            top_k=top_k,
            comparisons=cost.comparisons,
            prompts=cost.prompts,
            inferences=cost.inferences,
            cache_hits=cost.cache_hits,
            judge_calls=cost.judge_calls,
            rounds=cost.rounds,
            prompt_tokens=cost.prompt_tokens,
            completion_tokens=cost.completion_tokens,
            invalid_answers=cost.invalid_answers,
            wall_s=round(cost.wall_s, 6),
        ),
    )
