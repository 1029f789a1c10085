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
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rankpipe.distill.config import DEFAULT_STUDENT, Schedule, TrainConfig, plan
from rankpipe.distill.dataset import TrainingSet, longest, pairs_of, staged_folder
from rankpipe.distill.dev import DevScore, DevSet, Selection, selection_callback
from rankpipe.distill.losses import PairDistillLoss, flat_label
from rankpipe.errors import InputError
from rankpipe.extras import require
from rankpipe.models import resolve_model

require("sentence_transformers", "distill", "distillation")  # imported in the functions below
log = logging.getLogger(__name__)

INFO_FILE = "distill.json"
GENERATIVE = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")
"""Architecture name endings of generative models, refused as students."""


@dataclass(frozen=True)
class TrainResult:
    out: Path
    steps: int
    seconds: float
    train_loss: float
    """The trainer's mean training loss over the run."""
    loss_before: float
    loss_after: float
    """Loss over the training set (eval mode) before and after training (of the kept weights)."""
    losses: list[float] = field(default_factory=list)
    """The loss logged at each logging step."""
    dev: list[DevScore] = field(default_factory=list)
    """The dev evaluations, step 0 first."""
    kept_step: int | None = None
    """The step whose weights were saved (0: the student as it came; None: no dev set, the last)."""
    schedule: Schedule | None = None


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
    ("" where a query has fewer candidates) and label (k scores, then the k x k pair matrix).
    Built with `Dataset.map` a batch at a time: a memory-mapped set gives memory-mapped rows."""
    k = group_size or longest(data, "passages")

    def flatten(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        rows: dict[str, list[Any]] = {"query": list(batch["query"])}
        rows.update({f"passage_{i}": [] for i in range(k)})
        rows["label"] = []
        for passages, scores, pairs in zip(
            batch["passages"], batch["teacher_scores"], batch["pairs"], strict=True
        ):
            padded = list(passages[:k]) + [""] * (k - min(len(passages), k))
            for i, text in enumerate(padded):
                rows[f"passage_{i}"].append(text)
            rows["label"].append(flat_label(scores, pairs_of({"pairs": pairs}), k))
        return rows

    return data.map(
        flatten, batched=True, batch_size=256, remove_columns=data.column_names, desc="Flatten"
    )


def train_student(
    training: TrainingSet,
    out: str | Path,
    config: TrainConfig | None = None,
    overwrite: bool = False,
    data_name: str = "",
    dev: DevSet | None = None,
    round: int = 0,
    last_out: str | Path | None = None,
) -> TrainResult:
    """Train `config.student` on `training` and save it to `out` (refused if `out` exists, unless
    `overwrite`). With `dev`, the student is evaluated on it at step 0 and every
    `config.eval_every` steps, and the best weights are saved (`config.select`; else the last).
    `last_out`: also save the last step there (to compare selection with none from one run).
    Returns the losses, dev scores and time."""
    out = Path(out)
    config = config or TrainConfig()
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists; choose a new out folder or pass overwrite=True")
    config.check()
    model, own_length = _student_for(config, training)
    rows = training_rows(training.data, config.group_size)
    try:
        loss = PairDistillLoss(
            model,
            alpha=config.alpha,
            pointwise=config.pointwise,
            in_batch=config.in_batch,
            temperature=config.temperature,
            teacher_temperature=config.teacher_temperature,
        )
    except ValueError as error:  # the loss refuses its settings (e.g. every weight 0)
        raise InputError(str(error)) from None
    schedule = plan(len(rows), config, processes())
    checkpoints = out.with_name(f"{out.name}.checkpoints")
    selection = (
        Selection(model, dev, round, config.select_margin)
        if dev is not None and dev.queries
        else None
    )
    trainer = _trainer(model, rows, loss, config, schedule, checkpoints, selection)
    loss_before = training_set_loss(trainer, rows) if config.measure_loss else math.nan
    if selection is not None:
        selection.evaluate(0)
    started = time.perf_counter()
    resume = config.checkpoints and checkpoints.is_dir() and any(checkpoints.glob("checkpoint-*"))
    if resume:
        log.warning("resuming training from the checkpoints in %s", checkpoints)
    output = trainer.train(resume_from_checkpoint=True if resume else None)
    seconds = time.perf_counter() - started
    kept = None
    if selection is not None:
        selection.evaluate(int(output.global_step))
        if last_out is not None and trainer.is_world_process_zero():
            model.save(str(last_out))
        kept = selection.restore().step if config.select else int(output.global_step)
    loss_after = training_set_loss(trainer, rows) if config.measure_loss else math.nan
    result = TrainResult(
        out,
        int(output.global_step),
        seconds,
        float(output.training_loss),
        loss_before,
        loss_after,
        [float(e["loss"]) for e in trainer.state.log_history if "loss" in e],
        list(selection.scores) if selection else [],
        kept,
        schedule,
    )
    if trainer.is_world_process_zero():
        model.max_seq_length = own_length
        save_student(model, out, training, config, result, data_name, loss, overwrite)
        shutil.rmtree(checkpoints, ignore_errors=True)
    return result


def processes() -> int:
    """Processes training together (accelerate launch and torchrun set WORLD_SIZE)."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1")))


def _student_for(config: TrainConfig, training: TrainingSet) -> tuple[Any, int]:
    """The student with its model card data, and its own max_seq_length (restored on saving)."""
    from sentence_transformers import SentenceTransformerModelCardData

    card = SentenceTransformerModelCardData(
        local_files_only=True,
        generate_widget_examples=False,
        model_name=f"{config.student} distilled from {training.info.teacher} (rankpipe)",
        train_datasets=[{"name": "rankpipe distillation training set"}],
    )
    model = load_student(config.student, config.device, card)
    own_length = model.max_seq_length
    if config.max_seq_length:
        model.max_seq_length = config.max_seq_length
    return model, own_length


def _trainer(
    model: Any,
    rows: Any,
    loss: Any,
    config: TrainConfig,
    schedule: Schedule,
    checkpoints: Path,
    selection: Selection | None,
) -> Any:
    import torch
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from transformers import PrinterCallback

    gpu = torch.cuda.is_available() and model.device.type == "cuda"
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints),
        max_steps=schedule.steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=schedule.warmup_steps,
        lr_scheduler_type="linear",
        seed=config.seed,
        data_seed=config.seed,
        bf16=gpu and torch.cuda.is_bf16_supported(),
        fp16=gpu and not torch.cuda.is_bf16_supported(),
        logging_steps=1,
        save_strategy="epoch" if config.checkpoints else "no",
        save_total_limit=1,
        eval_strategy="no",
        report_to="none",
        disable_tqdm=not config.progress,
        use_cpu=not gpu,  # data-parallel CPU processes (gloo) need it; harmless in one process
        ddp_backend="gloo" if not gpu and processes() > 1 else None,
        ddp_find_unused_parameters=False,
    )
    callbacks = [selection_callback(selection, schedule.eval_every)] if selection else []
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=rows, loss=loss, callbacks=callbacks
    )
    if not config.progress:  # the logged losses go to the log (-v), not to stdout as dicts
        trainer.remove_callback(PrinterCallback)
        trainer.add_callback(loss_logger())
    return trainer


def save_student(
    model: Any,
    out: Path,
    training: TrainingSet,
    config: TrainConfig,
    result: TrainResult,
    data_name: str,
    loss: Any,
    overwrite: bool,
) -> None:
    """The model folder: sentence-transformers files, distill.json and the model card section."""
    with staged_folder(out, overwrite, "student model") as folder:
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
            card_file.write(
                model_card_section(training, config, result, data_name, model.max_seq_length)
            )


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
    epochs = f"{result.schedule.epochs:.2f}" if result.schedule else str(config.epochs)
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
- Training: {epochs} epoch(s), {result.steps} steps of {config.batch_size} queries, learning
  rate {config.learning_rate}, seed {config.seed}, {config.max_seq_length} tokens per text in
  training (the model keeps {own_length}), {result.seconds:.1f} s
- Final training loss (mean over the run): {result.train_loss:.4f}; loss over the training set
  before {result.loss_before:.4f}, after {result.loss_after:.4f}
{dev_section(result)}"""


def dev_section(result: TrainResult) -> str:
    if not result.dev:
        return "- No dev split: the last step was kept\n"
    first = result.dev[0]
    kept = next(s for s in result.dev if s.step == result.kept_step)
    unchanged = (
        " (the student as it came: no step was clearly better)" if result.kept_step == 0 else ""
    )
    return (
        f"- Dev queries: step 0 {first.describe()}; kept step {result.kept_step}{unchanged}: "
        f"{kept.describe()}\n"
    )


if __name__ == "__main__":  # `python -m rankpipe.distill.train`, for accelerate launch and torchrun
    from rankpipe.distill.pipeline import main

    sys.exit(main())
