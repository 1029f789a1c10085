"""`rankpipe serve`: the rerank service (rankpipe/serve/app.py) on uvicorn.

Binds 127.0.0.1 unless `--host` says otherwise; `--api-key-env NAME` requires `Authorization: Bearer
$NAME` on every rerank and metrics request. SIGTERM (and Ctrl-C) stop accepting connections, let
the requests in flight finish, then the Reranker drains and commits the judgment cache: exit 0.
The extra `serve` (fastapi, uvicorn, prometheus_client) is imported only when the command runs."""

from __future__ import annotations

import argparse
import os
import sys

from rankpipe.cli.inputs import add_cache_arguments, cache_path, positive_int
from rankpipe.errors import InputError
from rankpipe.executor import ORDERS
from rankpipe.extras import require

HELP = "serve reranking over HTTP (the Cohere/Jina/vLLM rerank API), batching across requests"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve",
        help=HELP,
        description="Serve POST /v1/rerank and /v2/rerank (Cohere/Jina/vLLM shape), GET /health, "
        "GET /metrics (Prometheus) and /docs. Requests in flight share the judge's batches; "
        "judgments are cached.",
    )
    parser.add_argument("--judge", required=True, metavar="SPEC", help="as for rerank")
    parser.add_argument(
        "--strategy", default="heapsort", metavar="SPEC", help="as for rerank (default heapsort)"
    )
    parser.add_argument(
        "--allow-strategy",
        action="append",
        default=[],
        metavar="SPEC",
        help="a strategy a request may name in rankpipe.strategy (repeatable)",
    )
    parser.add_argument("--top-k", type=positive_int, default=10, help="default 10")
    parser.add_argument(
        "--depth", type=positive_int, default=100, help="most documents per request (default 100)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="default 8000; 0: any free port")
    add_cache_arguments(parser, no_cache_help="keep judgments in memory only")
    parser.add_argument("--api-key-env", metavar="NAME", help="the variable holding the bearer key")
    parser.add_argument(
        "--batch-size", type=positive_int, default=32, help="prompts per judge call (default 32)"
    )
    parser.add_argument("--orders", choices=ORDERS, default="both", help="as for rerank")
    parser.add_argument(
        "--max-chars", type=positive_int, default=20_000, help="per document (default 20000)"
    )
    parser.add_argument(
        "--max-body-bytes", type=positive_int, default=4_000_000, help="default 4000000"
    )
    parser.add_argument("--max-top-n", type=positive_int, help="default: --depth")
    parser.add_argument(
        "--max-concurrent",
        type=positive_int,
        help="requests reranked at once (1: one at a time, no batching across requests)",
    )
    parser.set_defaults(handler=run_command)


def api_key(name: str | None) -> str | None:
    """The bearer key from the variable `name` (None without one)."""
    if name is None:
        return None
    key = os.environ.get(name, "")
    if not key.strip():
        raise InputError(f"--api-key-env {name}: the variable is not set or empty")
    return key


def run_command(args: argparse.Namespace) -> int:
    key = api_key(args.api_key_env)
    require("uvicorn", "serve", "rankpipe serve")
    from rankpipe.reranker import Reranker
    from rankpipe.serve import create_app, run_app

    if args.host not in LOOPBACK and key is None:
        print(
            f"warning: serving on {args.host} without --api-key-env: anyone who can reach it "
            "can spend your judge's time",
            file=sys.stderr,
        )
    with Reranker(
        args.judge,
        args.strategy,
        args.top_k,
        args.depth,
        cache=cache_path(args),
        batch_size=args.batch_size,
        orders=args.orders,
    ) as reranker:
        app = create_app(
            reranker,
            max_chars=args.max_chars,
            max_body_bytes=args.max_body_bytes,
            api_key=key,
            strategies_allowed=args.allow_strategy,
            max_top_n=args.max_top_n,
            max_concurrent=args.max_concurrent,
            strategy_name=args.strategy,
            model_name=model_name(args.judge),
        )
        run_app(app, args.host, args.port)
    print("rankpipe serve: stopped; requests drained, cache committed", file=sys.stderr)
    return 0


def model_name(judge: str) -> str:
    """What responses name as the model: the judge spec without options or a server's URL."""
    backend, _, rest = judge.partition(":")
    target = rest.split(",")[0].split("@")[0]
    return f"{backend}:{target}" if target and "=" not in target else backend
