"""The time cost model: estimated seconds of judge calls, rounds and runs, from tokens.

A judge call of b prompts holding P prompt tokens in all, whose answers take n tokens each, lasts

    t = overhead_s + per_prompt_s * b + prefill_token_s * P
        + steps * (decode_step_s + decode_seq_s * b)

with steps = n - 1 decoding steps (the first answer token comes out of the prefill; a pairwise or
setwise answer needs none): a fixed cost per forward pass, a cost per prompt, one per prompt token
computed (tokens a judge reused from a cached shared prefix are not: the ledger's
`round_reused_tokens`), and per decoding step one for reading the weights plus one per sequence
decoded.

A round of m prompts new to the run, with P prompt and C completion tokens in all, is sent at batch
size b as ceil(m / b) calls of b prompts (the last one smaller), each holding its share of the
round's tokens (P/m per prompt, ceil(C/m) answer tokens each). Two costs follow:
- GPU-seconds (throughput cost): the sum of the calls' times, what the device is busy for;
- latency: the sum over the sequential rounds of the slowest call of each round, the wall time when
  a round's independent calls run side by side (on enough replicas): a lower bound for one device.
Ledgers written before the per-round token lists existed give each round its prompts' share of the
query's tokens. `run_seconds` costs a whole run as the executor sends it (round r of every query
in one wave, batches spanning queries), the figure to hold against a measured wall time.

Calibration, named with every estimate:
- measured: `TimeCostModel.fit` on the calls a comparison made (their sizes, tokens and times),
  non-negative least squares; terms the calls cannot tell apart (no decoding seen) are 0, and said;
- device figures: `DEVICE_FIGURES`, from a table of measured throughputs (the H200 prefill ceilings
  of plain transformers in /work/shared/MODELS.md), fitted the same way. Those figures have no
  decoding measurement: a decoding step is taken to cost one forward pass of a short prompt at
  batch 1 (the fitted overhead), an assumption said so in the source, until eval/bench_gpu.py's
  decode steps per second replace it (`from_figures` takes them).
- a JSON file written by `TimeCostModel.write` (e.g. `compare`'s `timecost.json`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from rankpipe.atomic import atomic_write
from rankpipe.cost import CostLedger, QueryCost
from rankpipe.errors import InputError

TERMS = ("overhead_s", "per_prompt_s", "prefill_token_s", "decode_step_s", "decode_seq_s")


"""The coefficients of a time cost model, in the order of its columns."""


@dataclass(frozen=True)
class CallSample:
    """One measured judge call: prompts, prompt tokens, decoding steps (longest answer - 1), and
    seconds."""

    prompts: int
    prompt_tokens: int
    decode_steps: int
    seconds: float


@dataclass(frozen=True)
class TimeEstimate:
    """Estimated seconds per query (mean over queries)."""

    gpu_s: float
    """Throughput cost: the sum of the calls' times."""
    latency_s: float
    """The sum over sequential rounds of each round's slowest call."""


@dataclass(frozen=True)
class TimeCostModel:
    """Seconds per call from its prompts, prompt tokens and decoding steps (module docstring)."""

    name: str
    """The model shape and device, e.g. qwen2.5-7b@h200, or what the fit was made on."""
    source: str
    """The calibration source, shown with every estimate."""
    overhead_s: float
    per_prompt_s: float
    prefill_token_s: float
    decode_step_s: float
    decode_seq_s: float
    r_squared: float | None = None
    """Of the fit, where it was fitted on measured calls."""

    def call_seconds(self, prompts: int, prompt_tokens: float, decode_steps: int) -> float:
        if prompts == 0:
            return 0.0
        return (
            self.overhead_s
            + self.per_prompt_s * prompts
            + self.prefill_token_s * prompt_tokens
            + decode_steps * (self.decode_step_s + self.decode_seq_s * prompts)
        )

    def round_seconds(
        self, prompts: int, prompt_tokens: float, completion_tokens: float, batch_size: int
    ) -> TimeEstimate:
        """GPU-seconds and latency of one round of `prompts` new prompts at `batch_size`."""
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        if prompts == 0:
            return TimeEstimate(0.0, 0.0)
        per_prompt = prompt_tokens / prompts
        steps = max(math.ceil(completion_tokens / prompts) - 1, 0)
        full, rest = divmod(prompts, batch_size)
        largest = min(prompts, batch_size)
        gpu = full * self.call_seconds(batch_size, batch_size * per_prompt, steps)
        gpu += self.call_seconds(rest, rest * per_prompt, steps)
        return TimeEstimate(gpu, self.call_seconds(largest, largest * per_prompt, steps))

    def query_seconds(self, cost: QueryCost, batch_size: int) -> TimeEstimate:
        """A query's stand-alone GPU-seconds and latency, round by round."""
        gpu = latency = 0.0
        for prompts, tokens, completion in round_tokens(cost):
            estimate = self.round_seconds(prompts, tokens, completion, batch_size)
            gpu += estimate.gpu_s
            latency += estimate.latency_s
        return TimeEstimate(gpu, latency)

    def mean_seconds(self, ledger: CostLedger, batch_size: int) -> TimeEstimate:
        """Stand-alone GPU-seconds and latency per query, means over the ledger's queries."""
        estimates = [self.query_seconds(c, batch_size) for c in ledger.per_query.values()]
        n = max(len(estimates), 1)
        return TimeEstimate(
            sum(e.gpu_s for e in estimates) / n, sum(e.latency_s for e in estimates) / n
        )

    def run_seconds(self, ledger: CostLedger, batch_size: int) -> TimeEstimate:
        """The whole run as the executor sends it: round r of every query in one wave, the wave's
        new prompts batched across queries. GPU-seconds are then the run's wall time on one
        device that runs its calls one after another (as a CPU does)."""
        waves: list[list[float]] = []
        for cost in ledger.per_query.values():
            for r, (prompts, tokens, completion) in enumerate(round_tokens(cost)):
                if r == len(waves):
                    waves.append([0, 0.0, 0.0])
                waves[r][0] += prompts
                waves[r][1] += tokens
                waves[r][2] += completion
        estimates = [self.round_seconds(int(m), p, c, batch_size) for m, p, c in waves]
        return TimeEstimate(sum(e.gpu_s for e in estimates), sum(e.latency_s for e in estimates))

    @classmethod
    def fit(
        cls,
        samples: Sequence[CallSample],
        name: str,
        source: str,
        terms: Sequence[str] = TERMS,
        relative: bool = False,
    ) -> TimeCostModel | None:
        """Non-negative least squares of the calls' seconds on `terms` (the others 0); None
        without samples. A term the calls leave at 0 everywhere (no decoding seen) stays 0.
        `relative` minimises relative errors (for figures spanning orders of magnitude) instead
        of absolute ones (which weigh each call by its share of the total time)."""
        if not samples:
            return None
        from scipy.optimize import nnls

        rows = [_columns(s) for s in samples]
        times = [s.seconds for s in samples]
        used = [j for j, term in enumerate(TERMS) if term in terms and any(r[j] for r in rows)]
        scale = [max(abs(r[j]) for r in rows) for j in used]  # columns of one size for the solver
        weights = [1.0 / t if relative and t > 0 else 1.0 for t in times]
        matrix = [
            [w * r[j] / size for j, size in zip(used, scale, strict=True)]
            for r, w in zip(rows, weights, strict=True)
        ]
        solved, _ = nnls(
            _array(matrix), _array([w * t for w, t in zip(weights, times, strict=True)])
        )
        coefficients = [0.0] * len(TERMS)
        for j, size, value in zip(used, scale, solved, strict=True):
            coefficients[j] = float(value) / size
        predicted = [sum(c * x for c, x in zip(coefficients, r, strict=True)) for r in rows]
        mean = sum(times) / len(times)
        total = sum((t - mean) ** 2 for t in times)
        residual = sum((t - p) ** 2 for t, p in zip(times, predicted, strict=True))
        decoding = "" if TERMS.index("decode_step_s") in used else "; no decoding seen: terms 0"
        overhead, per_prompt, per_token, step, per_sequence = coefficients
        return cls(
            name,
            f"{source} ({len(samples)} calls{decoding})",
            overhead,
            per_prompt,
            per_token,
            step,
            per_sequence,
            r_squared=1.0 - residual / total if total > 0 else None,
        )

    @classmethod
    def from_figures(
        cls,
        name: str,
        source: str,
        prefill: Sequence[tuple[int, int, float]],
        decode: Sequence[tuple[int, float]] = (),
    ) -> TimeCostModel:
        """From device throughput figures: `prefill` as (batch size, prompt tokens per prompt,
        prompts per second) with one-token answers, fitted as overhead + per-token cost (prefill
        is compute-bound: its cost follows the tokens); `decode` as (batch size, decoding steps
        per second), fitted as step + per-sequence cost. Without decode figures a decoding step
        costs the fitted overhead (an assumption, said in the source)."""
        samples = [CallSample(b, b * tokens, 0, b / rate) for b, tokens, rate in prefill]
        fitted = cls.fit(samples, name, source, ("overhead_s", "prefill_token_s"), relative=True)
        assert fitted is not None
        if decode:
            steps = cls.fit(
                [CallSample(b, 0, 1, 1.0 / rate) for b, rate in decode],
                name,
                "",
                ("decode_step_s", "decode_seq_s"),
                relative=True,
            )
            assert steps is not None
            step_s, seq_s, decoding = steps.decode_step_s, steps.decode_seq_s, "decoding measured"
        else:
            step_s, seq_s = fitted.overhead_s, 0.0
            decoding = "decoding not measured: a step assumed to cost one batch-1 forward pass"
        return cls(
            name,
            f"{source}; {decoding}",
            fitted.overhead_s,
            0.0,
            fitted.prefill_token_s,
            step_s,
            seq_s,
            fitted.r_squared,
        )

    def describe(self) -> str:
        fit = f", R² {self.r_squared:.3f}" if self.r_squared is not None else ""
        return (
            f"{self.name}: t = {self.overhead_s:.4g} s + {self.per_prompt_s:.4g} s × prompts + "
            f"{self.prefill_token_s:.4g} s × prompt tokens + decoding steps × "
            f"({self.decode_step_s:.4g} s + {self.decode_seq_s:.4g} s × prompts){fit}; "
            f"calibration: {self.source}"
        )

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def write(self, path: str | Path) -> None:
        with atomic_write(path) as out:
            json.dump(self.to_dict(), out, indent=1)
            out.write("\n")

    @classmethod
    def from_dict(cls, record: dict[str, object], where: str) -> TimeCostModel:
        names = {f.name for f in fields(cls)}
        missing = names - {"r_squared"} - set(record)
        if missing or not set(record) <= names:
            raise InputError(
                f"{where}: a time cost model needs {', '.join(sorted(names - {'r_squared'}))} "
                f"(missing {', '.join(sorted(missing)) or 'none'}, unknown "
                f"{', '.join(sorted(set(record) - names)) or 'none'})"
            )
        try:
            numbers = {
                k: float(v)  # type: ignore[arg-type]
                for k, v in record.items()
                if k not in ("name", "source", "r_squared")
            }
        except (TypeError, ValueError):
            raise InputError(f"{where}: the model's coefficients must be numbers") from None
        if any(not math.isfinite(v) or v < 0 for v in numbers.values()):
            raise InputError(f"{where}: the model's coefficients must be finite and non-negative")
        r2 = record.get("r_squared")
        return cls(
            str(record["name"]),
            str(record["source"]),
            r_squared=None if r2 is None else float(r2),  # type: ignore[arg-type]
            **numbers,
        )


def _columns(sample: CallSample) -> list[float]:
    """The call's value of each term's factor, in TERMS order."""
    steps = sample.decode_steps
    return [1.0, sample.prompts, sample.prompt_tokens, steps, steps * sample.prompts]


def round_tokens(cost: QueryCost) -> list[tuple[int, float, float]]:
    """(prompts, prompt tokens computed, completion tokens) of each round of a query's new
    prompts; from the ledger's per-round lists (prompt tokens less those the judge reused from a
    shared prefix), or, in ledgers without them, each round's prompts' share of the query's
    stand-alone tokens."""
    prompts = cost.round_prompts
    if len(cost.round_prompt_tokens) == len(prompts) and (
        cost.round_prompt_tokens or not cost.standalone_prompt_tokens
    ):
        reused = cost.round_reused_tokens
        if len(reused) != len(prompts):  # ledgers written before prefix reuse was counted
            reused = [0] * len(prompts)
        sent = cost.round_prompt_tokens
        computed = [tokens - kept for tokens, kept in zip(sent, reused, strict=True)]
        return list(zip(prompts, computed, cost.round_completion_tokens, strict=True))
    total = sum(prompts)
    if not total:
        return [(m, 0.0, 0.0) for m in prompts]
    return [
        (
            m,
            cost.standalone_prompt_tokens * m / total,
            cost.standalone_completion_tokens * m / total,
        )
        for m in prompts
    ]


H200_PREFILL = "H200 prefill ceilings of plain transformers, bf16, 256-token prompts (MODELS.md)"
DEVICE_FIGURES: dict[str, tuple[str, list[tuple[int, int, float]]]] = {
    shape: (H200_PREFILL, [(b, 256, rate) for b, rate in zip((1, 16, 64, 256), rates, strict=True)])
    for shape, rates in (
        ("qwen2.5-0.5b@h200", (40, 647, 1506, 1654)),
        ("qwen2.5-1.5b@h200", (34, 544, 610, 610)),
        ("qwen2.5-7b@h200", (33, 155, 157, 158)),
        ("flan-t5-xl@h200", (14, 190, 290, 312)),
    )
}
"""Model shape@device -> (source, [(batch size, prompt tokens, pairwise judgments per second)])."""


def load_cost_model(spec: str) -> TimeCostModel:
    """A named shape@device (`DEVICE_FIGURES`) or a JSON file written by `TimeCostModel.write`."""
    key = spec.strip().lower()
    if key in DEVICE_FIGURES:
        source, prefill = DEVICE_FIGURES[key]
        return TimeCostModel.from_figures(key, source, prefill)
    path = Path(spec)
    if not path.is_file():
        raise InputError(
            f"--cost-model {spec}: neither a known shape@device ({', '.join(DEVICE_FIGURES)}) "
            "nor a JSON file"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: not a readable time cost model ({error})") from None
    if not isinstance(record, dict):
        raise InputError(f"{path}: a time cost model is a JSON object")
    return TimeCostModel.from_dict(record, str(path))


def _array(values: object) -> object:
    import numpy as np

    return np.asarray(values, dtype=float)
