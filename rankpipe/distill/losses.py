"""PairDistill's loss (Huang et al. 2024) as a sentence-transformers loss module.

For each query q with candidates d_1..d_k the student scores s_i = cos(q, d_i) / temperature.

* pointwise KL: KL(softmax(teacher_scores / teacher_temperature) || softmax(s)), averaged over
  queries;
* pairwise KL: for each judged pair (i, j, p), KL([p, 1 - p] || [sigmoid(s_i - s_j),
  sigmoid(s_j - s_i)]), the two-way softmax over the pair, averaged over all pairs in the batch;
* in-batch contrastive (optional): cross-entropy of each query over every passage in the batch,
  the teacher's best candidate of that query being the positive (InfoNCE with in-batch negatives).

loss = pointwise * pointwise KL + alpha * pairwise KL + in_batch * contrastive, with no
temperature-squared rescaling: with the default temperature (0.05, the `embed` judge's) the
student's P(i > j) is what `embed:STUDENT` answers. sentence-transformers' DistillKLDivLoss
covers the pointwise term alone and takes one label per candidate column; this module needs the
pairs too, hence its own.

Rows reach the loss in the flattened layout `training_rows` makes: columns query, passage_0 ..
passage_{k-1}, and a label of k teacher scores followed by the k x k matrix of P(i beats j), NaN
where a pair was not judged (and NaN scores for padding when a query has fewer than k candidates).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from rankpipe.extras import require

require("torch", "distill", "distillation")  # before torch: a missing extra is one line naming it
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import Tensor, nn  # noqa: E402


def pointwise_kl(student: Tensor, teacher: Tensor, teacher_temperature: float = 1.0) -> Tensor:
    """Mean over queries of KL(teacher || student) over each row's candidates.

    `student` are logits (B, k); `teacher` scores (B, k); NaN teacher scores mark padding."""
    valid = ~torch.isnan(teacher)
    target = torch.softmax(
        torch.where(valid, teacher / teacher_temperature, -math.inf), dim=1
    ).detach()
    log_student = torch.log_softmax(student.masked_fill(~valid, -math.inf), dim=1)
    terms = torch.xlogy(target, target) - target * log_student.masked_fill(~valid, 0.0)
    return terms.masked_fill(~valid, 0.0).sum(dim=1).mean()


def pairwise_kl(student: Tensor, pair_probs: Tensor) -> Tensor:
    """Mean over judged pairs of KL([p, 1-p] || [sigmoid(s_i - s_j), sigmoid(s_j - s_i)]).

    `student` are logits (B, k); `pair_probs` (B, k, k) holds P(i beats j), NaN where unjudged."""
    judged = ~torch.isnan(pair_probs)
    if not judged.any():
        return student.sum() * 0.0
    margin = student.unsqueeze(2) - student.unsqueeze(1)  # [b, i, j] = s_i - s_j
    p = pair_probs[judged].detach()
    d = margin[judged]
    terms = (
        torch.xlogy(p, p)
        - p * F.logsigmoid(d)
        + torch.xlogy(1 - p, 1 - p)
        - (1 - p) * F.logsigmoid(-d)
    )
    return terms.mean()


def in_batch_contrastive(
    queries: Tensor, passages: Tensor, teacher: Tensor, temperature: float
) -> Tensor:
    """Cross-entropy of each query over all B x k passages of the batch, its positive being its
    teacher-best candidate.

    `queries` (B, d) and `passages` (B, k, d) are unit vectors; `teacher` scores (B, k), NaN for
    padding (never a target, never a negative)."""
    batch, k, _ = passages.shape
    valid = ~torch.isnan(teacher)
    logits = queries @ passages.reshape(batch * k, -1).T / temperature
    logits = logits.masked_fill(~valid.reshape(1, batch * k), -math.inf)
    best = torch.where(valid, teacher, -math.inf).argmax(dim=1)
    targets = torch.arange(batch, device=queries.device) * k + best
    return F.cross_entropy(logits, targets)


def split_labels(labels: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """(teacher scores (B, k), pair probabilities (B, k, k)) from flattened labels."""
    if labels.shape[1] != k + k * k:
        raise ValueError(
            f"PairDistillLoss expects labels of k + k*k = {k + k * k} values for {k} passage "
            f"columns, got {labels.shape[1]}"
        )
    return labels[:, :k], labels[:, k:].reshape(-1, k, k)


def flat_label(
    teacher: Sequence[float], pairs: Iterable[tuple[int, int, float]], k: int
) -> list[float]:
    """One row's label: k teacher scores (NaN padded) then the k x k pair matrix (NaN unjudged).
    Pairs beyond the first k candidates are dropped."""
    scores = [float(s) for s in teacher[:k]] + [math.nan] * (k - min(len(teacher), k))
    matrix = [math.nan] * (k * k)
    for i, j, p in pairs:
        if i < k and j < k:
            matrix[i * k + j] = float(p)
    return scores + matrix


class PairDistillLoss(nn.Module):
    """Pointwise KL + alpha x pairwise KL (+ in_batch x contrastive) for a SentenceTransformer."""

    def __init__(
        self,
        model: nn.Module,
        *,
        alpha: float = 3.0,
        pointwise: float = 1.0,
        in_batch: float = 0.0,
        temperature: float = 0.05,
        teacher_temperature: float = 1.0,
    ) -> None:
        super().__init__()
        for label, value in (
            ("temperature", temperature),
            ("teacher_temperature", teacher_temperature),
        ):
            if not 0 < value < math.inf:
                raise ValueError(f"{label} must be a positive finite number, got {value}")
        for label, value in (("alpha", alpha), ("pointwise", pointwise), ("in_batch", in_batch)):
            if value < 0:
                raise ValueError(f"{label} weight must not be negative, got {value}")
        if alpha == pointwise == in_batch == 0:
            raise ValueError("every loss weight is 0: nothing would be learned")
        self.model = model
        self.alpha, self.pointwise, self.in_batch = alpha, pointwise, in_batch
        self.temperature, self.teacher_temperature = temperature, teacher_temperature
        self.last_terms: dict[str, float] = {}
        """The unweighted terms of the latest batch (for logging and tests)."""

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        try:  # sentence-transformers 6 embeds the passage columns in one merged forward pass
            from sentence_transformers.base.losses.merged_forward import embed_columns
        except ImportError:
            embeddings = [self.model(f)["sentence_embedding"] for f in sentence_features]
        else:
            embeddings = embed_columns(self.model, sentence_features)
        return self.compute_loss_from_embeddings(embeddings, labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        query = F.normalize(embeddings[0], dim=-1)
        passages = F.normalize(torch.stack(embeddings[1:], dim=1), dim=-1)  # (B, k, d)
        k = passages.shape[1]
        teacher, pair_probs = split_labels(labels.to(query.dtype), k)
        student = torch.einsum("bd,bkd->bk", query, passages) / self.temperature
        terms = {
            "pointwise": pointwise_kl(student, teacher, self.teacher_temperature),
            "pairwise": pairwise_kl(student, pair_probs),
        }
        if self.in_batch:
            terms["in_batch"] = in_batch_contrastive(query, passages, teacher, self.temperature)
        self.last_terms = {name: float(value.detach()) for name, value in terms.items()}
        weights = {"pointwise": self.pointwise, "pairwise": self.alpha, "in_batch": self.in_batch}
        return sum((weights[name] * value for name, value in terms.items()), query.sum() * 0.0)

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "pointwise": self.pointwise,
            "alpha": self.alpha,
            "in_batch": self.in_batch,
            "temperature": self.temperature,
            "teacher_temperature": self.teacher_temperature,
        }

    @property
    def citation(self) -> str:
        return """
@inproceedings{huang2024pairdistill,
  title={PairDistill: Pairwise Relevance Distillation for Dense Retrieval},
  author={Chao-Wei Huang and Yun-Nung Chen},
  booktitle={EMNLP},
  year={2024}
}
"""
