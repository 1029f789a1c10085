"""The `openai` backend over several servers (`openai:MODEL@URL1|URL2|...`), local fake servers on
127.0.0.1: each query stays on one server, concurrency is bounded per server, a server that dies
mid-run hands its queries to the others and comes back after `recheck`, and the run fails only
when every server has failed, naming them all."""

from __future__ import annotations

import logging
import math
import threading
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from fake_server import MODEL, FakeServer, Reply, completion, dead_url

from rankpipe.cli.main import main
from rankpipe.data.trec import read_run
from rankpipe.data.types import Candidate, Query, QueryCandidates
from rankpipe.errors import InputError, JudgeError
from rankpipe.judges.base import PairPrompt
from rankpipe.judges.openai import OpenAIJudge
from rankpipe.judges.spec import make_judge
from rankpipe.reranker import rerank
from rankpipe.strategies.base import Comparison, PairwiseRun


def by_prompt(request: dict[str, Any], number: int) -> Reply:
    """P(A) fixed by the prompt's text: every server gives a prompt the same answer."""
    p_a = (zlib.crc32(request["prompt"].encode()) % 97 + 1) / 99
    return 200, completion(" A", {" A": math.log(p_a), " B": math.log(1 - p_a)})


def judge_over(servers: list[FakeServer], options: str = "") -> OpenAIJudge:
    urls = "|".join(s.url for s in servers)
    judge = make_judge(f"openai:{MODEL}@{urls},format=plain,backoff=0,retries=1{options}")
    assert isinstance(judge, OpenAIJudge)
    return judge


def queries(count: int, per_query: int = 4) -> list[PairPrompt]:
    prompts = []
    for q in range(count):
        query = Query(f"q{q}", f"question number {q}")
        a = Candidate(f"q{q}-a", f"first passage for {q}")
        prompts += [
            PairPrompt(query, a, Candidate(f"q{q}-b{i}", f"other passage {i} for {q}"))
            for i in range(per_query)
        ]
    return prompts


def servers_of_queries(servers: list[FakeServer]) -> dict[str, set[str]]:
    """query text -> the servers that received its prompts."""
    seen: dict[str, set[str]] = defaultdict(set)
    for server in servers:
        for prompt in server.prompts():
            question = prompt.split('"')[1]
            seen[question].add(server.url)
    return seen


def test_each_query_stays_on_one_server_the_same_one_in_every_process(serve) -> None:  # noqa: ANN001
    servers = [serve(by_prompt) for _ in range(3)]
    prompts = queries(12)
    judge_over(servers).judge(prompts)
    placed = servers_of_queries(servers)
    assert len(placed) == 12 and all(len(urls) == 1 for urls in placed.values())
    assert len({url for urls in placed.values() for url in urls}) > 1  # queries spread out
    # a new judge, its URLs listed in another order, routes every query the same way
    for server in servers:
        server.requests.clear()
    judge_over(servers[::-1]).judge(prompts)
    assert servers_of_queries(servers) == placed


def test_concurrency_is_bounded_per_server(serve) -> None:  # noqa: ANN001
    # each server's handlers wait for a second request: one at a time would break it
    barriers = defaultdict(lambda: threading.Barrier(2, timeout=10))
    lock = threading.Lock()

    def paired(server_index: int):  # noqa: ANN202
        def respond(request: dict[str, Any], number: int) -> Reply:
            with lock:
                barrier = barriers[server_index]
            barrier.wait()
            return by_prompt(request, number)

        return respond

    servers = [serve(paired(i)) for i in range(2)]
    judgments = judge_over(servers, ",concurrency=2").judge(queries(8))
    assert len(judgments) == 32 and all(j.valid for j in judgments)
    assert [s.max_in_flight for s in servers] == [2, 2]


def test_a_server_that_dies_mid_run_hands_its_queries_to_the_others(serve, caplog) -> None:  # noqa: ANN001
    servers = [serve(by_prompt) for _ in range(3)]
    prompts = queries(12)
    expected = [j.p_a for j in judge_over(servers).judge(prompts)]
    placed = servers_of_queries(servers)
    for server in servers:
        server.requests.clear()
    # the servers' ports are random, so which queries hash where varies from run to run: the one
    # to die holds some of queries 0-5 (judged before it dies) and some of 6-11 (after)
    def holds(server: FakeServer, numbers: range) -> bool:
        return any(server.url in placed[f"question number {n}"] for n in numbers)

    dying = next(s for s in servers if holds(s, range(6)) and holds(s, range(6, 12)))
    judge = judge_over(servers, ",concurrency=2")
    first = judge.judge(prompts[:24])  # queries 0-5
    assert dying.requests
    dying.stop()
    with caplog.at_level(logging.WARNING, logger="rankpipe.judges"):
        rest = judge.judge(prompts[24:])
    assert [j.p_a for j in first + rest] == pytest.approx(expected)
    moved = {q for q, urls in placed.items() if dying.url in urls and int(q.split()[-1]) >= 6}
    assert moved, "the dead server held some of the later queries"
    marked = [r.getMessage() for r in caplog.records if "marked down" in r.getMessage()]
    assert len(marked) == 1 and dying.url in marked[0] and "connection refused" in marked[0]
    assert judge.client.failovers >= 4 * len(moved)
    # once down, its queries go straight to their next server, which keeps each of them whole
    later = servers_of_queries([s for s in servers if s is not dying])
    assert all(len(later[q]) == 1 for q in moved)


def test_a_server_that_fails_with_5xx_is_tried_again_after_recheck(serve, caplog) -> None:  # noqa: ANN001
    broken = threading.Event()
    broken.set()

    def flaky(request: dict[str, Any], number: int) -> Reply:
        return (503, {"error": "restarting"}) if broken.is_set() else by_prompt(request, number)

    servers = [serve(flaky), serve(by_prompt)]
    judge = judge_over(servers, ",recheck=0")
    with caplog.at_level(logging.WARNING, logger="rankpipe.judges"):
        assert all(j.valid for j in judge.judge(queries(10)))
        assert judge.client.requests[servers[0].url] == 0
        broken.clear()
        judge.judge(queries(10))
    assert judge.client.requests[servers[0].url] > 0
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"openai server {servers[0].url} answers again" in m for m in messages)


def test_when_every_server_is_down_the_error_names_them_all_and_keeps_what_came(serve) -> None:  # noqa: ANN001
    servers = [serve(by_prompt) for _ in range(2)]
    judge = judge_over(servers, ",concurrency=1")
    judge.judge(queries(1))
    for server in servers:
        server.stop()
    with pytest.raises(JudgeError) as failure:
        judge.judge(queries(3))
    message = str(failure.value)
    assert "all 2 openai servers failed" in message
    assert all(f"openai server {s.url}: 2 attempts failed" in message for s in servers)
    assert "connection refused" in message and failure.value.partial == {}


@dataclass
class TwoRounds:
    """Each candidate against the first, then every other pair; `between` runs between the two
    rounds. Ranked by summed preference."""

    between: Callable[[], None]
    name: ClassVar[str] = "two-rounds"

    def run(self, n: int, top_k: int) -> PairwiseRun:
        first = [Comparison(0, i) for i in range(1, n)]
        second = [Comparison(i, j) for i in range(1, n) for j in range(i + 1, n)]
        answers = list((yield first))
        self.between()
        answers += list((yield second))
        wins = [0.0] * n
        for comparison, p_a in zip(first + second, answers, strict=True):
            wins[comparison.a] += p_a
            wins[comparison.b] += 1.0 - p_a
        return sorted(range(n), key=lambda k: -wins[k])


def test_a_rerank_survives_a_server_dying_and_matches_a_healthy_run(serve) -> None:  # noqa: ANN001
    items = [
        QueryCandidates(
            Query(f"q{q}", f"question number {q}"),
            tuple(Candidate(f"d{q}-{i}", f"passage {i} of query {q}") for i in range(5)),
        )
        for q in range(8)
    ]
    spec = f"openai:{MODEL}@{{}},format=plain,backoff=0,retries=0"
    healthy = serve(by_prompt)
    baseline = rerank(items, spec.format(healthy.url), TwoRounds(lambda: None), top_k=5, cache=None)
    servers = [serve(by_prompt) for _ in range(3)]
    urls = "|".join(s.url for s in servers)
    stopped: list[FakeServer] = []

    def stop_the_busiest() -> None:
        # called once per query, as its second round starts; the servers' ports are random,
        # so which queries hash to which server varies from run to run: the one stopped is one
        # that served part of the first round
        if not stopped:
            stopped.append(max(servers, key=lambda s: len(s.requests)))
            stopped[0].stop()

    result = rerank(
        items, spec.format(urls), TwoRounds(stop_the_busiest), top_k=5, batch_size=64, cache=None
    )
    (dead,) = stopped
    assert dead.requests, "the dying server served part of the first round"
    assert {q: r.docids for q, r in result.run.items()} == {
        q: r.docids for q, r in baseline.run.items()
    }
    assert result.cost.total()["inferences"] == baseline.cost.total()["inferences"]


def test_urls_stay_out_of_the_identity() -> None:
    one = make_judge(f"openai:{MODEL}@http://127.0.0.1:1/v1,format=plain")
    many = make_judge(f"openai:{MODEL}@http://127.0.0.1:1/v1|http://h2:8000/v1,format=plain")
    assert one.identity == many.identity


@pytest.mark.parametrize(
    ("urls", "expected"),
    [
        ("http://h1:8000/v1|h2:8000/v1", "URL 'h2:8000/v1' must start with http"),
        ("http://h1:8000/v1|http://h1:8000/v1/", "given twice"),
        ("http://h1:8000/v1|", "URL '' must start with http"),
    ],
)
def test_bad_url_lists_are_input_errors(urls: str, expected: str) -> None:
    with pytest.raises(InputError, match=expected):
        make_judge(f"openai:{MODEL}@{urls},format=plain")


def test_the_rerank_command_takes_a_list_of_servers_one_of_them_dead(serve, tmp_path) -> None:  # noqa: ANN001
    live = serve(by_prompt)
    output = tmp_path / "run.trec"
    code = main([
        "rerank", "--dataset", "demo", "--depth", "3", "--strategy", "allpairs",
        "--judge", f"openai:{MODEL}@{dead_url()}|{live.url},format=plain,retries=0",
        "--output", str(output), "--cache", str(tmp_path / "judgments.sqlite"),
    ])  # fmt: skip
    assert code == 0
    assert len(read_run(output)) == 10
    assert len(live.requests) == 10 * 3 * 2  # every prompt answered by the live server
