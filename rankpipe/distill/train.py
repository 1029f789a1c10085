"""Train a bi-encoder student on a distillation training set with sentence-transformers.

`train_student` flattens the training set (one row per query: query, passage_0..passage_{k-1}, a
label of teacher scores and judged pairs; see losses.py), trains with `SentenceTransformerTrainer`
and `PairDistillLoss`, and saves a sentence-transformers model folder with a model card (teacher,
data, losses, training loss) and `distill.json` (the same facts, machine-readable). The folder is
what `rankpipe index --kind dense --model DIR`, `rankpipe retrieve` and `--judge embed:DIR` load.

Seeds, checkpoints (in `DIR.checkpoints`, resumed from when a killed run left one, removed after
success), logged losses, a progress bar, bf16 (else fp16) on a GPU, and early stopping on a dev
split come from the trainer. Many GPUs need no code of ours:

    accelerate launch -m rankpipe.distill.train --from-dataset DATA --out DIR [options]
    torchrun --nproc-per-node 8 -m rankpipe.distill.train --from-dataset DATA --out DIR

(`python -m rankpipe.distill.train` is `rankpipe distill` restricted to a training set already
mined: every process trains, only the first writes.)
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rankpipe.distill.dataset import TrainingSet, pairs_of, staged_folder
from rankpipe.distill.losses import PairDistillLoss, flat_label
from rankpipe.errors import InputError
from rankpipe.extras import require
from rankpipe.models import resolve_model

require("sentence_transformers", "distill", "distillation")  # imported in the functions below
log = logging.getLogger(__name__)

DEFAULT_STUDENT = "sentence-transformers/all-MiniLM-L6-v2"
INFO_FILE = "distill.json"
GENERATIVE = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")
"""Architecture name endings of generative models, refused as students."""


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; the defaults follow PairDistill where this CPU allows (one epoch, lr
    3e-5, warm-up, alpha 3.0) and use smaller batches (PairDistill: 6 queries x 64 passages)."""

    student: str = DEFAULT_STUDENT
    epochs: float = 1.0
    batch_size: int = 4
    """Queries per step (each with all its candidates)."""
    learning_rate: float = 3e-5
    warmup_ratio: float = 0.1
    alpha: float = 3.0
    pointwise: float = 1.0
    in_batch: float = 0.0
    temperature: float = 0.05
    teacher_temperature: float = 1.0
    group_size: int | None = None
    """Candidates per query in training (default: the most any query has; fewer are padded)."""
    max_seq_length: int | None = 128
    """Tokens per text in training; the saved model keeps the student's own limit."""
    seed: int = 42
    max_steps: int = -1
    dev_fraction: float = 0.0
    """Share of the queries held out as a dev split (eval loss each `eval_steps`; early stop)."""
    early_stopping_patience: int = 2
    eval_steps: int | None = None
    logging_steps: int = 1
    device: str | None = None
    progress: bool = False
    measure_loss: bool = True
    checkpoints: bool = True
    """Save a checkpoint each epoch (each eval with a dev split), to resume a killed run."""
    """Evaluate the loss over the training set before and after (two extra forward passes)."""


@dataclass(frozen=True)
class TrainResult:
    out: Path
    steps: int
    seconds: float
    train_loss: float
    """The trainer's mean training loss over the run."""
    loss_before: float
    loss_after: float
    """Loss over the training set (eval mode) before and after training."""
    losses: list[float] = field(default_factory=list)
    """The loss logged at each logging step."""
    dev_loss: float | None = None


def check_student(name: str) -> str:
    """The path or ID `name` resolves to, refused (InputError) when it is a folder that holds no
    encoder: no model files, or a generative language model. Reads no weights."""
    path = resolve_model(name)
    folder = Path(path)
    if not folder.exists():
        return path
    config = folder / "config.json"
    sentence_transformer = (folder / "modules.json").is_file()
    if not folder.is_dir() or not (config.is_file() or sentence_transformer):
        raise InputError(f"student {name}: not an encoder folder (no config.json or modules.json)")
    if not sentence_transformer:
        try:
            architectures = json.loads(config.read_text()).get("architectures") or []
        except (json.JSONDecodeError, AttributeError) as error:
            raise InputError(f"student {name}: {config} is not a model config ({error})") from None
        if any(a.endswith(GENERATIVE) for a in architectures):
            raise InputError(
                f"student {name}: a generative language model ({', '.join(architectures)}), "
                "not an encoder; give a sentence-transformers model or an encoder such as "
                f"{DEFAULT_STUDENT}"
            )
    return path


def load_student(name: str, device: str | None = None, card: Any = None) -> Any:
    """A SentenceTransformer for `name` (a model ID, a sentence-transformers folder or a plain
    transformers encoder, which gets mean pooling); InputError for anything that is not an
    encoder."""
    from sentence_transformers import SentenceTransformer

    path = check_student(name)
    try:
        model = SentenceTransformer(path, device=device, model_card_data=card)
    except (OSError, ValueError) as error:
        raise InputError(f"student {name}: cannot load it as an encoder ({error})") from None
    return model


def training_rows(data: Any, group_size: int | None = None) -> Any:
    """The flattened layout the trainer feeds to PairDistillLoss: query, passage_0..passage_{k-1}
    ("" where a query has fewer candidates) and label (k scores, then the k x k pair matrix)."""
    from datasets import Dataset

    k = group_size or max(len(p) for p in data["passages"])
    rows: dict[str, list[Any]] = {"query": []}
    rows.update({f"passage_{i}": [] for i in range(k)})
    rows["label"] = []
    for row in data:
        passages = list(row["passages"][:k]) + [""] * (k - min(len(row["passages"]), k))
        rows["query"].append(row["query"])
        for i, text in enumerate(passages):
            rows[f"passage_{i}"].append(text)
        rows["label"].append(flat_label(row["teacher_scores"], pairs_of(row), k))
    return Dataset.from_dict(rows)


def train_student(
    training: TrainingSet,
    out: str | Path,
    config: TrainConfig = TrainConfig(),
    overwrite: bool = False,
    data_name: str = "",
) -> TrainResult:
    """Train `config.student` on `training` and save it to `out` (refused if `out` exists, unless
    `overwrite`). Returns the losses and time."""
    import torch
    from sentence_transformers import (
        SentenceTransformerModelCardData,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from transformers import EarlyStoppingCallback, PrinterCallback

    out = Path(out)
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists; choose a new --out folder or pass --overwrite")
    if config.batch_size < 1:
        raise InputError(f"--train-batch-size must be at least 1, got {config.batch_size}")
    if not 0 <= config.dev_fraction < 1:
        raise InputError(f"--dev-fraction must lie in [0, 1), got {config.dev_fraction}")
    card = SentenceTransformerModelCardData(
        local_files_only=True,
        generate_widget_examples=False,
        model_name=f"{config.student} distilled from {training.info.teacher} (rankpipe)",
        train_datasets=[{"name": data_name or "rankpipe distillation training set"}],
    )
    model = load_student(config.student, config.device, card)
    own_length = model.max_seq_length
    if config.max_seq_length:
        model.max_seq_length = config.max_seq_length
    rows = training_rows(training.data, config.group_size)
    dev = None
    if config.dev_fraction:
        if len(rows) < 2:
            raise InputError("--dev-fraction needs at least two training queries")
        split = rows.train_test_split(test_size=config.dev_fraction, seed=config.seed)
        rows, dev = split["train"], split["test"]
    loss = PairDistillLoss(
        model,
        alpha=config.alpha,
        pointwise=config.pointwise,
        in_batch=config.in_batch,
        temperature=config.temperature,
        teacher_temperature=config.teacher_temperature,
    )
    gpu = torch.cuda.is_available() and model.device.type == "cuda"
    steps_per_epoch = math.ceil(len(rows) / config.batch_size)
    total_steps = (
        config.max_steps if config.max_steps > 0 else math.ceil(steps_per_epoch * config.epochs)
    )
    eval_steps = config.eval_steps or max(1, total_steps // 10)
    checkpoints = out.with_name(f"{out.name}.checkpoints")
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=int(config.warmup_ratio * total_steps),  # 0 for a run of a few steps
        seed=config.seed,
        data_seed=config.seed,
        bf16=gpu and torch.cuda.is_bf16_supported(),
        fp16=gpu and not torch.cuda.is_bf16_supported(),
        logging_steps=config.logging_steps,
        save_strategy="steps" if dev is not None else "epoch" if config.checkpoints else "no",
        save_steps=eval_steps,
        save_total_limit=2,
        eval_strategy="steps" if dev is not None else "no",
        eval_steps=eval_steps if dev is not None else None,
        load_best_model_at_end=dev is not None,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        report_to="none",
        disable_tqdm=not config.progress,
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=rows,
        eval_dataset=dev,
        loss=loss,
        callbacks=[EarlyStoppingCallback(config.early_stopping_patience)] if dev else None,
    )
    if not config.progress:  # the logged losses go to the log (-v), not to stdout as dicts
        trainer.remove_callback(PrinterCallback)
        trainer.add_callback(loss_logger())
    loss_before = training_set_loss(trainer, rows) if config.measure_loss else math.nan
    started = time.perf_counter()
    resume = checkpoints.is_dir() and any(checkpoints.glob("checkpoint-*"))
    if resume:
        log.warning("resuming training from the checkpoints in %s", checkpoints)
    output = trainer.train(resume_from_checkpoint=True if resume else None)
    seconds = time.perf_counter() - started
    loss_after = training_set_loss(trainer, rows) if config.measure_loss else math.nan
    dev_loss = float(trainer.evaluate()["eval_loss"]) if dev is not None else None
    losses = [float(e["loss"]) for e in trainer.state.log_history if "loss" in e]
    result = TrainResult(
        out,
        int(output.global_step),
        seconds,
        float(output.training_loss),
        loss_before,
        loss_after,
        losses,
        dev_loss,
    )
    if trainer.is_world_process_zero():
        with staged_folder(out, overwrite, "student model") as folder:
            model.max_seq_length = own_length
            model.save(str(folder))
            facts = {
                "training_set": asdict(training.info),
                "data": data_name,
                "config": asdict(config),
                "loss": loss.get_config_dict(),
                "result": {k: v for k, v in asdict(result).items() if k != "out"},
            }
            (folder / INFO_FILE).write_text(json.dumps(facts, indent=1, default=str) + "\n")
            with (folder / "README.md").open("a", encoding="utf-8") as card_file:
                card_file.write(model_card_section(training, config, result, data_name, own_length))
        shutil.rmtree(checkpoints, ignore_errors=True)
    return result


def loss_logger() -> Any:
    """A trainer callback that logs each logged loss through `logging` (shown with -v)."""
    from transformers import TrainerCallback

    class LossLogger(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs:
                values = ", ".join(f"{k} {v:.4g}" for k, v in logs.items() if isinstance(v, float))
                log.info("training step %d: %s", state.global_step, values)

    return LossLogger()


def training_set_loss(trainer: Any, rows: Any) -> float:
    return float(trainer.evaluate(eval_dataset=rows, metric_key_prefix="train")["train_loss"])


def model_card_section(
    training: TrainingSet,
    config: TrainConfig,
    result: TrainResult,
    data_name: str,
    own_length: int,
) -> str:
    """The model card's distillation section: teacher, data, losses, final training loss."""
    info = training.info
    return f"""

## Pairwise relevance distillation (rankpipe)

Trained with `rankpipe distill` (PairDistill, Huang et al. 2024) from `{config.student}`.

- Teacher: `{info.teacher}` ({"both orders averaged" if info.both_orders else "one order"})
- Data: {data_name or "a rankpipe training set"}: {info.queries} queries, {info.judged_pairs} judged
  pairs (rule `{info.pairs_rule}`), {info.inferences} teacher inferences; pointwise teacher scores:
  {info.score_source}; {len(info.skipped)} queries left out
- Loss: {config.pointwise} x pointwise KL + {config.alpha} x pairwise KL + {config.in_batch} x
  in-batch contrastive; student temperature {config.temperature}, teacher temperature
  {config.teacher_temperature}
- Training: {config.epochs} epoch(s), {result.steps} steps of {config.batch_size} queries, learning
  rate {config.learning_rate}, seed {config.seed}, {config.max_seq_length} tokens per text in
  training (the model keeps {own_length}), {result.seconds:.1f} s
- Final training loss (mean over the run): {result.train_loss:.4f}; loss over the training set
  before {result.loss_before:.4f}, after {result.loss_after:.4f}
"""


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m rankpipe.distill.train --from-dataset DATA --out DIR ...` (for accelerate launch
    and torchrun)."""
    from rankpipe.cli.main import main as cli_main

    arguments = list(sys.argv[1:] if argv is None else argv)
    if "--from-dataset" not in arguments:
        print(
            "rankpipe.distill.train: give --from-dataset DATA (mine first with rankpipe "
            "distill --mine-only)",
            file=sys.stderr,
        )
        return 2
    return cli_main(["distill", *arguments])


if __name__ == "__main__":
    sys.exit(main())
