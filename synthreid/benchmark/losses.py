"""Classification losses of re-ID training: plain and soft-label/noise-robust variants.

- ``ce``: cross-entropy on hard labels.
- ``ls``: cross-entropy against smoothed labels, (1 - ε) one-hot + ε / C uniform (Szegedy et al.).
- ``sce``: symmetric cross-entropy (Wang et al. 2019), α·CE + β·RCE, where the reverse term
  RCE = -Σ_k p_k log q_k swaps prediction p and label q, with the one-hot q clamped to
  [1e-4, 1] so log 0 is finite: RCE = -log(1e-4)·(1 - p_y), bounded in [0, 9.21] and hence
  robust to wrong labels (e.g. weak synthetic variants that look like another identity).

All take logits (N, C) float and integer labels (N,) and return the batch mean (a scalar).
:class:`TripletLoss` (batch-hard, Hermans et al. 2017) takes features (N, D) instead; it is
added to one of the above (``TrainConfig.triplet_weight``) with a P x K identity sampler.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from synthreid.errors import SynthreidError

LOSSES = ("ce", "ls", "sce")
RCE_CLAMP = 1e-4


class SymmetricCrossEntropy(nn.Module):
    """α·CE + β·RCE (see module doc); α, β >= 0, not both 0."""

    def __init__(self, alpha: float = 0.1, beta: float = 1.0):
        super().__init__()
        self.alpha, self.beta = float(alpha), float(beta)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # one log-softmax serves both terms: CE = -log p_y and RCE needs p_y only
        logp_y = F.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
        rce = -math.log(RCE_CLAMP) * (1.0 - logp_y.exp())
        return (self.beta * rce - self.alpha * logp_y).mean()


def make_criterion(
    loss: str, label_smoothing: float = 0.0, sce_alpha: float = 0.1, sce_beta: float = 1.0
) -> nn.Module:
    """The training criterion named ``loss`` (one of :data:`LOSSES`); ε = ``label_smoothing``."""
    if loss == "ce":
        return nn.CrossEntropyLoss()
    if loss == "ls":
        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    if loss == "sce":
        return SymmetricCrossEntropy(sce_alpha, sce_beta)
    raise SynthreidError(f"loss {loss!r}: unknown (valid: {', '.join(LOSSES)})")


class TripletLoss(nn.Module):
    """Batch-hard triplet loss: mean over anchors of relu(d(a, hardest positive) - d(a, hardest
    negative) + margin), Euclidean distances between features (N, D). Anchors without a positive
    or a negative in the batch are left out (0 when none is left)."""

    def __init__(self, margin: float = 0.3):
        super().__init__()
        self.margin = float(margin)

    def forward(self, feats: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        sq = feats.pow(2).sum(1)
        # clamp before sqrt: rounding can make d^2 slightly negative; the epsilon keeps the gradient finite
        dist = (sq[:, None] + sq[None, :] - 2 * feats @ feats.t()).clamp_min(1e-12).sqrt()
        same = target[:, None] == target[None, :]
        eye = torch.eye(len(target), dtype=torch.bool, device=feats.device)
        pos = same & ~eye
        valid = pos.any(1) & (~same).any(1)
        if not valid.any():
            return feats.sum() * 0.0
        hardest_pos = dist.masked_fill(~pos, float("-inf")).amax(1)
        hardest_neg = dist.masked_fill(same, float("inf")).amin(1)
        return torch.relu(hardest_pos - hardest_neg + self.margin)[valid].mean()
