"""Benchmark the judges' throughput on this machine: pairwise judgments per second on real TREC DL19
pairs (a query and two of its BM25 top-20 passages, drawn with a fixed seed).

Judges: `hf` SmolLM2-135M-Instruct (PRP prompt) at micro-batch 1, 4 and 16, `embed` all-MiniLM-L6-v2
with every text new to its embedding cache and with every text already cached, and `sim` (no model:
the overhead floor). Each judge first answers a warm-up set of other pairs (model loading and first
kernels excluded), then the measured pairs in one `judge()` call, as the executor would send them.
Then how often the `hf` judge's `min_mass` rule fires: P(" A") + P(" B") on the measured pairs with
the `prp` and `prp_fewshot` prompts. Writes markdown (default eval/results/judges.md).

The CPU may be shared: the load average before and after is printed with the table.

Usage: python eval/bench_judges.py [--pairs 32] [--threads 2 1] [--output eval/results/judges.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import torch

from rankpipe.atomic import atomic_write
from rankpipe.data.datasets import load_dataset
from rankpipe.judges.base import Judgment, PairPrompt
from rankpipe.judges.embedding import EmbeddingJudge
from rankpipe.judges.simulated import SimulatedJudge
from rankpipe.judges.transformers import DEFAULT_MIN_MASS, TransformersJudge

SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
THRESHOLDS = (0.1, DEFAULT_MIN_MASS, 0.8, 0.9)
COLUMNS = (
    "judge", "threads", "batch", "pairs", "seconds", "judgments/s", "CPU s", "load",
    "prompt tokens", "invalid",
)


@dataclass
class Row:
    judge: str
    threads: int
    batch: str
    pairs: int
    seconds: float
    cpu_seconds: float
    load: float
    prompt_tokens: float
    invalid: int

    @property
    def per_second(self) -> float:
        return self.pairs / self.seconds


def dl19_pairs(count: int, seed: int) -> list[PairPrompt]:
    """`count` pairs, each a DL19 query with two distinct passages of its BM25 top 20."""
    items = load_dataset("dl19").candidates
    rng = random.Random(seed)
    prompts = []
    for n in range(count):
        item = items[n % len(items)]
        a, b = rng.sample(item.candidates[:20], 2)
        prompts.append(PairPrompt(item.query, a, b))
    return prompts


def timed(
    name: str, batch: str, answer: Callable[[Sequence[PairPrompt]], list[Judgment]],
    warmup: list[PairPrompt], measured: list[PairPrompt],
) -> Row:
    answer(warmup)
    started, cpu_started = time.perf_counter(), time.process_time()
    judgments = answer(measured)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    tokens = statistics.mean(j.prompt_tokens for j in judgments)
    invalid = sum(not j.valid for j in judgments)
    threads, load = torch.get_num_threads(), os.getloadavg()[0]
    row = Row(name, threads, batch, len(measured), seconds, cpu_seconds, load, tokens, invalid)
    print(f"{name:<46} {threads} {batch:<14} {row.per_second:10.2f} judgments/s", file=sys.stderr)
    return row


def mass_table(measured: list[PairPrompt]) -> list[str]:
    lines = [
        "| prompt | pairs | min | 5% | median | max | "
        + " | ".join(f"fires at {t}" for t in THRESHOLDS) + " |",
        "|---|---|---|---|---|---|" + "---|" * len(THRESHOLDS),
    ]
    for prompt in ("prp", "prp_fewshot"):
        judge = TransformersJudge(SMOLLM2, device="cpu", batch_size=16, prompt=prompt)
        masses = sorted(s.mass for s in judge.choice_logprobs(measured))
        fifth = masses[int(0.05 * (len(masses) - 1))]
        fired = [sum(m < t for m in masses) for t in THRESHOLDS]
        lines.append(
            f"| {prompt} | {len(masses)} | {masses[0]:.3f} | {fifth:.3f} | "
            f"{statistics.median(masses):.3f} | {masses[-1]:.3f} | "
            + " | ".join(f"{n} ({n / len(masses):.0%})" for n in fired) + " |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=32, help="pairs per judge (default 32)")
    parser.add_argument("--threads", type=int, nargs="+", default=[torch.get_num_threads()],
                        help="torch CPU threads, one measurement per value (default: torch's own)")
    parser.add_argument("--output", default="eval/results/judges.md")
    args = parser.parse_args()
    load_before = os.getloadavg()
    warmup, measured = dl19_pairs(16, seed=1), dl19_pairs(args.pairs, seed=0)
    dataset = load_dataset("dl19")

    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for batch in (1, 4, 16):
            hf = TransformersJudge(SMOLLM2, device="cpu", batch_size=batch)
            rows.append(timed(f"hf:{SMOLLM2}", str(batch), hf.judge, warmup[:batch], measured))
        embed = EmbeddingJudge(MINILM, device="cpu")
        embed.judge(warmup)
        embed.encoder.cache.clear()
        rows.append(timed(f"embed:{MINILM}", "64, texts new", embed.judge, [], measured))
        rows.append(timed(f"embed:{MINILM}", "texts cached", embed.judge, [], measured))
        sim = SimulatedJudge(dataset.qrels)
        rows.append(timed("sim (qrels, no model)", "-", sim.judge, warmup, measured))
    masses = mass_table(measured)
    load_after = os.getloadavg()

    command = " ".join(["python", *sys.argv])
    lines = [
        "# Judge throughput on CPU",
        "",
        f"`{command}` on {date.today().isoformat()}: {platform.machine()}, {os.cpu_count()} "
        f"cores, torch {torch.__version__}, Python "
        f"{platform.python_version()}. Load average (1 min) {load_before[0]:.1f} before and "
        f"{load_after[0]:.1f} after: other jobs shared this CPU, so read the numbers as lower "
        "bounds.",
        "",
        f"{args.pairs} DL19 pairs (query + two BM25 top-20 passages), answered in one `judge()` "
        "call after a warm-up call on other pairs, `hf` with the `prp` prompt. Threads: torch's "
        "CPU threads. Batch: the judge's micro-batch (`batch_size`). "
        "CPU s: processor time this process used (all threads); load: the 1-minute load average "
        "when the measurement ended; prompt tokens: mean per judgment.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in rows:
        lines.append(
            f"| `{row.judge}` | {row.threads} | {row.batch} | {row.pairs} | {row.seconds:.2f} | "
            f"{row.per_second:,.2f} | {row.cpu_seconds:.1f} | {row.load:.1f} | "
            f"{row.prompt_tokens:.0f} | {row.invalid} |"
        )
    lines += [
        "",
        "## How often `min_mass` fires (SmolLM2-135M-Instruct)",
        "",
        "P(\" A\") + P(\" B\") under the full softmax at the answer position, on the same pairs; "
        f"an answer below `min_mass` (default {DEFAULT_MIN_MASS}) is invalid and scored 0.5.",
        "",
        *masses,
        "",
    ]
    with atomic_write(args.output) as out:
        out.write("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
