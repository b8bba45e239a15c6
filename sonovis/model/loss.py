"""Training losses: symmetric InfoNCE between two modalities, masked-frame reconstruction, and phone CTC.

The contrastive loss takes the *distinct* items of one side (``b``: U images) and an
index from each ``a`` (B utterances) into them, so several utterances of one image in
a batch are positives of that image rather than false negatives of each other.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def contrastive_loss(
    a: torch.Tensor,
    b: torch.Tensor,
    b_index: torch.Tensor,
    logit_scale: torch.Tensor,
) -> torch.Tensor:
    """Symmetric InfoNCE between ``a`` [B, E] and the distinct ``b`` [U, E]; ``a[i]`` pairs with ``b[b_index[i]]``.

    ``logit_scale`` is log(1/T), as the model stores it; logits are ``exp(logit_scale) * a @ b.T``.
    a->b is a cross-entropy over the U b's. b->a is, for every b that has a partner, a softmax
    over the B a's whose loss is the mean of -log p over all its partners (multi-positive).
    With U == B and ``b_index = arange(B)`` this is exactly CLIP's loss.
    """
    with torch.autocast(a.device.type, enabled=False):  # bf16's 3 digits, over T = 0.07, would blur the logits
        logits = logit_scale.exp() * a.float() @ b.float().T  # [B, U]
    a_to_b = F.cross_entropy(logits, b_index)
    log_p = logits.T.log_softmax(dim=1)  # [U, B]: for each b, a distribution over the a's
    is_partner = (b_index[None, :] == torch.arange(b.shape[0], device=b.device)[:, None]).to(log_p.dtype)
    partners = is_partner.sum(dim=1)
    has_partner = partners > 0
    per_b = -(log_p * is_partner).sum(dim=1)[has_partner] / partners[has_partner]
    return (a_to_b + per_b.mean()) / 2


def masked_reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the frames where ``mask`` [B, T] is true; ``pred``/``target`` are [B, T, F].

    Unmasked frames are visible to the encoder, so reconstructing them would only teach copying.
    With no masked frame at all the loss is a graph-connected zero rather than NaN.
    """
    pred, mask = pred.float(), mask.float()  # a bf16 training step's prediction, summed in float32
    per_frame = (pred - target).pow(2).mean(dim=-1)  # [B, T]
    return (per_frame * mask).sum() / mask.sum().clamp(min=1.0)


def phone_ctc_loss(log_probs: torch.Tensor, lengths: torch.Tensor, phones: torch.Tensor,
                   phone_lengths: torch.Tensor) -> torch.Tensor:
    """CTC of ``phones`` [B, L] (ids from 1; 0 is the blank) under ``log_probs`` [B, T, C], per phone.

    ``zero_infinity``: an utterance too short for its phones (a sped-up augmentation can do that)
    contributes nothing instead of an infinite loss that would wreck the step.
    """
    return F.ctc_loss(log_probs.transpose(0, 1), phones, lengths, phone_lengths, blank=0,
                      reduction="mean", zero_infinity=True)
