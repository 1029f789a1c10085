"""Each loss term against values computed by hand, padding and unjudged pairs ignored, and the
weighted sum PairDistillLoss returns."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rankpipe.distill.losses import (
    PairDistillLoss,
    flat_label,
    in_batch_contrastive,
    pairwise_kl,
    pointwise_kl,
    split_labels,
)

NAN = math.nan
# teacher softmax [0.75, 0.25] against a uniform student
KL_POINT = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def kl2(p: float, q: float) -> float:
    """KL([p, 1-p] || [q, 1-q]) with 0 log 0 = 0."""
    return sum(a * math.log(a / b) for a, b in ((p, q), (1 - p, 1 - q)) if a > 0)


def test_pointwise_kl_matches_hand_computed_value() -> None:
    student = torch.tensor([[0.0, 0.0]])
    teacher = torch.tensor([[math.log(3.0), 0.0]])
    assert pointwise_kl(student, teacher).item() == pytest.approx(KL_POINT, abs=1e-6)
    assert round(KL_POINT, 6) == 0.130812  # the hand-computed value


def test_pointwise_kl_ignores_padding_and_applies_the_teacher_temperature() -> None:
    student = torch.tensor([[0.0, 0.0, 5.0], [0.0, 0.0, 0.0]])
    teacher = torch.tensor([[2 * math.log(3.0), 0.0, NAN], [0.0, 0.0, 0.0]])
    # query 1: as above (the padded third passage is out); query 2: uniform vs uniform, 0
    value = pointwise_kl(student, teacher, teacher_temperature=2.0).item()
    assert value == pytest.approx(KL_POINT / 2, abs=1e-6)


def test_pairwise_kl_averages_over_judged_pairs_only() -> None:
    student = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    probs = torch.full((2, 2, 2), NAN)
    probs[0, 0, 1] = 0.8  # query 1: P(0 beats 1) = 0.8, student sigmoid(1 - 0)
    probs[1, 1, 0] = 1.0  # query 2: P(1 beats 0) = 1, student sigmoid(2 - 0)
    expected = (kl2(0.8, sigmoid(1.0)) + kl2(1.0, sigmoid(2.0))) / 2
    assert pairwise_kl(student, probs).item() == pytest.approx(expected, abs=1e-6)


def test_pairwise_kl_is_zero_when_the_student_agrees_and_pulls_toward_the_teacher() -> None:
    student = torch.tensor([[math.log(4.0), 0.0]], requires_grad=True)  # sigmoid(ln 4) = 0.8
    probs = torch.full((1, 2, 2), NAN)
    probs[0, 0, 1] = 0.8
    assert pairwise_kl(student, probs).item() == pytest.approx(0.0, abs=1e-7)
    probs[0, 0, 1] = 0.95
    pairwise_kl(student, probs).backward()
    assert student.grad is not None and student.grad[0, 0] < 0 < student.grad[0, 1]


def test_in_batch_contrastive_matches_hand_computed_cross_entropy() -> None:
    queries = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    passages = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]])
    teacher = torch.tensor([[2.0, 1.0], [0.0, 3.0]])  # positives: passage 0 of q0, passage 1 of q1
    # q0's logits over the 4 passages: [1, 0, 1, 0], target 0; q1's: [0, 1, 0, 1], target 3
    expected = math.log(2 * math.e + 2) - 1.0
    value = in_batch_contrastive(queries, passages, teacher, temperature=1.0).item()
    assert value == pytest.approx(expected, abs=1e-6)
    # a padded passage is neither target nor negative: q0 over [1, 0, (out), 0], q1 over
    # [0, 1, (out), 1]
    teacher[1, 0] = NAN
    expected = (math.log(math.e + 2) - 1.0 + math.log(2 * math.e + 1) - 1.0) / 2
    value = in_batch_contrastive(queries, passages, teacher, temperature=1.0).item()
    assert value == pytest.approx(expected, abs=1e-6)


def test_flat_label_round_trips_through_split_labels() -> None:
    label = flat_label([1.0, 2.0], [(0, 1, 0.7), (2, 0, 0.1), (0, 5, 0.9)], k=3)
    assert len(label) == 3 + 9
    scores, probs = split_labels(torch.tensor([label]), 3)
    assert scores[0, :2].tolist() == [1.0, 2.0] and math.isnan(scores[0, 2])
    assert probs[0, 0, 1].item() == pytest.approx(0.7)
    assert probs[0, 2, 0].item() == pytest.approx(0.1)
    assert int((~torch.isnan(probs)).sum()) == 2  # (0, 5) is beyond k and dropped
    with pytest.raises(ValueError, match="k \\+ k\\*k"):
        split_labels(torch.tensor([label]), 2)


def test_pair_distill_loss_weighs_its_terms() -> None:
    query = torch.tensor([[1.0, 0.0]])
    passages = [torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])]
    label = torch.tensor([flat_label([math.log(3.0), 0.0], [(0, 1, 0.8)], k=2)])
    # cosines 1 and 0, temperature 0.5: student logits [2, 0]
    student = [2.0, 0.0]
    q = math.exp(2) / (math.exp(2) + 1)
    point = 0.75 * math.log(0.75 / q) + 0.25 * math.log(0.25 / (1 - q))
    pair = kl2(0.8, sigmoid(2.0))
    loss = PairDistillLoss(nn.Identity(), alpha=3.0, pointwise=0.5, temperature=0.5)
    value = loss.compute_loss_from_embeddings([query, *passages], label).item()
    assert student[0] - student[1] == 2.0
    assert value == pytest.approx(0.5 * point + 3.0 * pair, abs=1e-5)
    assert loss.last_terms["pointwise"] == pytest.approx(point, abs=1e-5)
    assert loss.last_terms["pairwise"] == pytest.approx(pair, abs=1e-5)
    with_contrastive = PairDistillLoss(nn.Identity(), alpha=0.0, pointwise=0.0, in_batch=1.0)
    value = with_contrastive.compute_loss_from_embeddings([query, *passages], label).item()
    assert value == pytest.approx(0.0, abs=1e-6)  # one query, its positive far ahead at T=0.05


def test_pair_distill_loss_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="every loss weight is 0"):
        PairDistillLoss(nn.Identity(), alpha=0.0, pointwise=0.0)
    with pytest.raises(ValueError, match="temperature"):
        PairDistillLoss(nn.Identity(), temperature=0.0)
    with pytest.raises(ValueError, match="negative"):
        PairDistillLoss(nn.Identity(), alpha=-1.0)
