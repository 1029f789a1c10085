"""The training flags, declared once: `rankpipe distill` and `python -m rankpipe.distill.train`
(the entry point for `accelerate launch` and `torchrun`) both add them with `add_training_arguments`
and read them back as a `TrainConfig` with `train_config`."""

from __future__ import annotations

import argparse

from rankpipe.distill.config import TrainConfig
from rankpipe.errors import InputError

DEFAULTS = TrainConfig()


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("training")
    add = group.add_argument
    add(
        "--student",
        default=DEFAULTS.student,
        metavar="MODEL",
        help="sentence-transformers model or encoder to train (default all-MiniLM-L6-v2)",
    )
    add(
        "--alpha",
        type=float,
        default=DEFAULTS.alpha,
        help=f"weight of the pairwise KL term (default {DEFAULTS.alpha})",
    )
    add(
        "--pointwise",
        type=float,
        default=DEFAULTS.pointwise,
        help=f"weight of the pointwise KL term (default {DEFAULTS.pointwise})",
    )
    add(
        "--in-batch",
        type=float,
        default=DEFAULTS.in_batch,
        help=f"weight of the in-batch negatives' contrastive term (default {DEFAULTS.in_batch})",
    )
    add(
        "--temperature",
        type=float,
        default=DEFAULTS.temperature,
        help=f"student temperature over cosine scores (default {DEFAULTS.temperature})",
    )
    add(
        "--teacher-temperature",
        type=float,
        default=DEFAULTS.teacher_temperature,
        help=f"temperature over the teacher scores (default {DEFAULTS.teacher_temperature})",
    )
    add_schedule_arguments(group)


def add_schedule_arguments(group: argparse._ArgumentGroup) -> None:
    """How long to train, and the dev split that selects the step kept."""
    add = group.add_argument
    add(
        "--epochs",
        type=float,
        default=None,
        help="training epochs (default: the fewest whole epochs giving --min-steps steps)",
    )
    add(
        "--min-steps",
        type=int,
        default=DEFAULTS.min_steps,
        help=f"least optimizer steps when --epochs is not given (default {DEFAULTS.min_steps})",
    )
    add("--max-steps", type=int, default=-1, help="stop after this many steps")
    add(
        "--train-batch-size",
        type=int,
        default=DEFAULTS.batch_size,
        help=f"queries per step and process, each with its candidates "
        f"(default {DEFAULTS.batch_size})",
    )
    add(
        "--lr",
        type=float,
        default=DEFAULTS.learning_rate,
        help=f"peak learning rate (default {DEFAULTS.learning_rate}; linear warm-up over "
        f"{DEFAULTS.warmup_ratio * 100:.0f}%% of the steps, then linear decay)",
    )
    add(
        "--max-seq-length",
        type=int,
        default=DEFAULTS.max_seq_length,
        help=f"tokens per text in training (default {DEFAULTS.max_seq_length})",
    )
    add(
        "--eval-every",
        type=int,
        default=None,
        help="steps between dev evaluations (default: a tenth of the run)",
    )
    add(
        "--no-select",
        dest="select",
        action="store_false",
        help="keep the last step, not the best one on the dev queries",
    )
    add(
        "--select-margin",
        type=float,
        default=DEFAULTS.select_margin,
        metavar="SE",
        help="keep the best step only when it beats step 0 on the dev queries by more than SE "
        "standard errors of the per-query difference, else step 0 "
        f"(default {DEFAULTS.select_margin:g}; 0: any gain)",
    )
    add("--seed", type=int, default=DEFAULTS.seed, help=f"training seed (default {DEFAULTS.seed})")
    add("--device", help="cpu, cuda, cuda:1 (default: a GPU when present)")
    add(
        "--dev-fraction",
        type=float,
        default=0.2,
        help="share of the training queries held out to select the best step (default 0.2)",
    )
    add(
        "--dev-queries",
        metavar="FILE",
        help="the dev queries instead (TSV qid<TAB>text, or one qid a line)",
    )


def train_config(args: argparse.Namespace, progress: bool = False) -> TrainConfig:
    return TrainConfig(
        student=args.student,
        epochs=args.epochs,
        min_steps=args.min_steps,
        batch_size=args.train_batch_size,
        learning_rate=args.lr,
        alpha=args.alpha,
        pointwise=args.pointwise,
        in_batch=args.in_batch,
        temperature=args.temperature,
        teacher_temperature=args.teacher_temperature,
        max_seq_length=args.max_seq_length,
        seed=args.seed,
        max_steps=args.max_steps,
        select=args.select,
        select_margin=args.select_margin,
        eval_every=args.eval_every,
        device=args.device,
        progress=progress,
    )


def read_qids(path: str) -> list[str]:
    """The first field of each non-empty line (a topics TSV or a list of qids)."""
    try:
        with open(path, encoding="utf-8") as lines:
            return [line.split("\t")[0].strip() for line in lines if line.strip()]
    except OSError as error:
        raise InputError(f"dev queries {path}: {error.strerror or error}") from None
