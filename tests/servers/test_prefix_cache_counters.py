"""vLLM's prefix-cache counters as rankpipe reads them: from a server's Prometheus page (a local
fake serving text in vLLM's format), summed over servers, and from in-process metric objects."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fake_server import MODEL, prefers_a

from rankpipe.errors import JudgeError
from rankpipe.judges.openai import OpenAIJudge
from rankpipe.judges.spec import make_judge
from rankpipe.judges.telemetry import (
    PrefixCacheStats,
    prefix_cache_from_metrics,
    prefix_cache_from_prometheus,
)

# what vllm serve (0.32) prints for the two counters, with its HELP/TYPE lines and _created samples
PAGE = """\
# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="HuggingFaceTB/SmolLM2-135M-Instruct"} 5120.0
vllm:prefix_cache_queries_created{engine="0",model_name="HuggingFaceTB/SmolLM2-135M-Instruct"} 1.7e9
# HELP vllm:prefix_cache_hits_total Prefix cache hits, in terms of number of cached tokens.
# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total{engine="0",model_name="HuggingFaceTB/SmolLM2-135M-Instruct"} 3840.0
vllm:external_prefix_cache_hits_total{engine="0",model_name="x"} 99.0
"""


def test_the_counters_are_read_from_a_prometheus_page() -> None:
    stats = prefix_cache_from_prometheus(PAGE)
    assert stats == PrefixCacheStats(queries=5120, hits=3840)
    assert stats.hit_rate == pytest.approx(0.75)
    assert prefix_cache_from_prometheus("# nothing here\n") == PrefixCacheStats()
    assert PrefixCacheStats().hit_rate == 0.0


def test_engines_and_readings_add_up() -> None:
    two_engines = PAGE + PAGE.replace('engine="0"', 'engine="1"')
    assert prefix_cache_from_prometheus(two_engines) == PrefixCacheStats(10240, 7680)
    later, earlier = PrefixCacheStats(900, 600), PrefixCacheStats(400, 100)
    assert later - earlier == PrefixCacheStats(500, 500)


@dataclass
class Counter:
    """Shaped like vllm.v1.metrics.reader.Counter."""

    name: str
    value: int
    labels: dict[str, str]


def test_the_counters_are_read_from_in_process_metrics() -> None:
    metrics = [
        Counter("vllm:prefix_cache_queries", 300, {"engine": "0"}),
        Counter("vllm:prefix_cache_hits", 120, {"engine": "0"}),
        Counter("vllm:prefix_cache_queries", 100, {"engine": "1"}),
        Counter("vllm:num_preemptions", 7, {"engine": "0"}),
    ]
    assert prefix_cache_from_metrics(metrics) == PrefixCacheStats(400, 120)


def test_the_openai_judge_sums_its_servers_counters(serve) -> None:  # noqa: ANN001
    first, second = serve(prefers_a), serve(prefers_a)
    first.metrics = PAGE
    second.metrics = PAGE.replace("5120.0", "880.0").replace("3840.0", "160.0")
    judge = make_judge(f"openai:{MODEL}@{first.url}|{second.url},format=plain")
    assert isinstance(judge, OpenAIJudge)
    assert judge.client.prefix_cache() == PrefixCacheStats(6000, 4000)


def test_a_server_without_a_metrics_page_is_named(serve) -> None:  # noqa: ANN001
    fake = serve(prefers_a)
    judge = make_judge(f"openai:{MODEL}@{fake.url.removesuffix('/v1')}/api,format=plain")
    assert isinstance(judge, OpenAIJudge)
    with pytest.raises(JudgeError, match=r"cannot read http://127\.0\.0\.1:\d+/api/metrics"):
        judge.client.prefix_cache()
