"""Training settings and the run's length derived from the data (no heavy imports: the CLI and
`python -m rankpipe.distill.train` declare their flags from these defaults)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rankpipe.errors import InputError

DEFAULT_STUDENT = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class TrainConfig:
    """Training settings. PairDistill's where this CPU allows (lr 3e-5, warm-up, alpha 3.0, in-batch
    negatives), with smaller batches (PairDistill: 6 queries x 64 passages); the number of steps
    comes from the data: `epochs` (None: as many whole epochs as it takes to reach `min_steps`)."""

    student: str = DEFAULT_STUDENT
    epochs: float | None = None
    """Passes over the training queries; None: the fewest whole epochs with >= `min_steps` steps."""
    min_steps: int = 40
    batch_size: int = 4
    """Queries per step and process (each with all its candidates)."""
    learning_rate: float = 3e-5
    warmup_ratio: float = 0.1
    """Share of the steps spent warming the learning rate up (rounded down), then linear decay."""
    alpha: float = 3.0
    pointwise: float = 1.0
    in_batch: float = 1.0
    temperature: float = 0.05
    teacher_temperature: float = 1.0
    group_size: int | None = None
    """Candidates per query in training (default: the most any query has; fewer are padded)."""
    max_seq_length: int | None = 128
    """Tokens per text in training; the saved model keeps the student's own limit."""
    seed: int = 42
    max_steps: int = -1
    """Stop after this many steps (overrides epochs and min_steps)."""
    select: bool = True
    """With a dev set: keep the best evaluated step (step 0 included), else the last."""
    select_margin: float = 1.0
    """The best step is kept only when it beats step 0 on the dev queries by more than this many
    standard errors of the per-query difference (the one-standard-error rule; 0: any gain)."""
    eval_every: int | None = None
    """Steps between dev evaluations (default: a tenth of the run, at least 1)."""
    device: str | None = None
    progress: bool = False
    measure_loss: bool = True
    """Evaluate the loss over the training set before and after (two extra forward passes)."""
    checkpoints: bool = False
    """Save a checkpoint each epoch, to resume a killed run (selection restarts at the resume)."""

    def check(self) -> None:
        """InputError naming the first setting out of range."""
        limits = (
            ("batch_size", self.batch_size >= 1, "at least 1"),
            ("min_steps", self.min_steps >= 1, "at least 1"),
            ("epochs", self.epochs is None or self.epochs > 0, "positive"),
            ("learning_rate", self.learning_rate >= 0, "non-negative"),
            ("warmup_ratio", 0 <= self.warmup_ratio < 1, "in [0, 1)"),
            ("eval_every", self.eval_every is None or self.eval_every >= 1, "at least 1"),
            ("select_margin", self.select_margin >= 0, "non-negative"),
        )
        for name, ok, should in limits:
            if not ok:
                raise InputError(f"{name} must be {should}, got {getattr(self, name)}")


@dataclass(frozen=True)
class Schedule:
    """The run's length, derived from the data (`plan`)."""

    steps: int
    epochs: float
    warmup_steps: int
    eval_every: int
    samples: int
    """Queries seen in all (steps x batch size x processes)."""


def plan(queries: int, config: TrainConfig, processes: int = 1) -> Schedule:
    """Steps, epochs, warm-up and evaluation interval for `queries` training queries."""
    per_epoch = max(1, math.ceil(queries / (config.batch_size * processes)))
    if config.max_steps > 0:
        steps = config.max_steps
    elif config.epochs is not None:
        steps = max(1, math.ceil(per_epoch * config.epochs))
    else:
        steps = per_epoch * max(1, math.ceil(config.min_steps / per_epoch))
    every = config.eval_every or max(1, steps // 10)
    return Schedule(
        steps,
        steps / per_epoch,
        int(config.warmup_ratio * steps),  # rounded down: 0 for a run of a few steps
        every,
        steps * config.batch_size * processes,
    )
