"""Pairwise distillation into a dense retriever (PairDistill): `distill()` mines a teacher's
judgments, trains a student, keeps its best step on a dev split and can repeat with hard negatives
from the student's own index. Imported lazily: `import rankpipe.distill` needs no torch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rankpipe.distill.config import TrainConfig
    from rankpipe.distill.pipeline import DistillResult, MiningSettings, distill

__all__ = ["DistillResult", "MiningSettings", "TrainConfig", "distill"]


def __getattr__(name: str) -> Any:
    if name == "TrainConfig":
        from rankpipe.distill.config import TrainConfig

        return TrainConfig
    if name in ("DistillResult", "MiningSettings", "distill"):
        from rankpipe.distill import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'rankpipe.distill' has no attribute {name!r}")
