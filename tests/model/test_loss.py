"""InfoNCE against CLIP's formula and a hand-computed multi-positive case; masked reconstruction."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from sonovis.model.loss import contrastive_loss, masked_reconstruction_loss


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


def test_one_partner_each_is_exactly_the_clip_loss() -> None:
    generator = torch.Generator().manual_seed(0)
    a = F.normalize(torch.randn(8, 5, generator=generator), dim=1)
    b = F.normalize(torch.randn(8, 5, generator=generator), dim=1)
    logit_scale = torch.tensor(math.log(1 / 0.07))
    logits = logit_scale.exp() * a @ b.T
    labels = torch.arange(8)
    clip = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    assert contrastive_loss(a, b, labels, logit_scale).item() == pytest.approx(clip.item(), rel=1e-6)


def test_several_utterances_of_one_image_are_all_its_positives() -> None:
    """Three utterances, three images: utterances 0 and 1 describe image 0, utterance 2 image 1, image 2 none."""
    a = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    b_index = torch.tensor([0, 0, 1])
    scale = 2.0  # logit_scale = log 2
    logits = [[scale * sum(x * y for x, y in zip(ai, bj)) for bj in b.tolist()] for ai in a.tolist()]

    def nll(row: list[float], target: int) -> float:
        return -(row[target] - math.log(sum(math.exp(v) for v in row)))

    a_to_b = sum(nll(logits[i], int(b_index[i])) for i in range(3)) / 3
    image0_scores, image1_scores = ([logits[i][j] for i in range(3)] for j in (0, 1))
    image0 = (nll(image0_scores, 0) + nll(image0_scores, 1)) / 2  # mean over its two utterances
    image1 = nll(image1_scores, 2)
    expected = (a_to_b + (image0 + image1) / 2) / 2  # image 2 has no utterance: no b->a term
    loss = contrastive_loss(a, b, b_index, torch.tensor(math.log(scale)))
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_temperature_and_embeddings_receive_gradients() -> None:
    a = torch.randn(4, 3, requires_grad=True)
    b = torch.randn(2, 3, requires_grad=True)
    logit_scale = torch.tensor(1.0, requires_grad=True)
    contrastive_loss(a, b, torch.tensor([0, 1, 1, 0]), logit_scale).backward()
    for tensor in (a, b, logit_scale):
        assert tensor.grad is not None and tensor.grad.abs().sum() > 0


def test_reconstruction_counts_masked_frames_only() -> None:
    target = torch.zeros(2, 3, 2)
    pred = torch.tensor([[[1.0, 1.0], [2.0, 0.0], [9.0, 9.0]], [[0.0, 3.0], [5.0, 5.0], [0.0, 0.0]]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    # masked frames: mean sq error per frame 1, 2, 4.5 -> mean 2.5; the 9s and 5s are unmasked
    assert masked_reconstruction_loss(pred, target, mask).item() == pytest.approx(2.5)


def test_reconstruction_with_nothing_masked_is_a_differentiable_zero() -> None:
    pred = torch.randn(2, 3, 4, requires_grad=True)
    loss = masked_reconstruction_loss(pred, torch.zeros(2, 3, 4), torch.zeros(2, 3, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0
    assert pred.grad is not None and torch.all(pred.grad == 0)
