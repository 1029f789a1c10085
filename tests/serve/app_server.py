"""A server built with `rankpipe.serve.create_app`, as a user mounting the app would, with a judge
that fails (JudgeError) on every batch holding a prompt of a query that contains "FAIL". Run by the
tests: `python tests/serve/app_server.py --batch-size N --host 127.0.0.1 --port 0`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rankpipe.errors import JudgeError
from rankpipe.judges.base import Judgment, PairPrompt
from rankpipe.judges.simulated import OverlapJudge
from rankpipe.reranker import Reranker
from rankpipe.serve import create_app, run_app


class FailingJudge(OverlapJudge):
    def judge(self, prompts: Sequence[PairPrompt]) -> list[Judgment]:
        if any("FAIL" in prompt.query.text for prompt in prompts):
            self._pause()
            raise JudgeError("the model server went away (on purpose)")
        return super().judge(prompts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    judge = FailingJudge(latency=args.latency)
    with Reranker(judge, "heapsort", cache="memory", batch_size=args.batch_size) as reranker:
        run_app(create_app(reranker), args.host, args.port)


if __name__ == "__main__":
    main()
