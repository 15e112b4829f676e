"""Classification losses of re-ID training: plain and soft-label/noise-robust variants.

- ``ce``: cross-entropy on hard labels.
- ``ls``: cross-entropy against smoothed labels, (1 - ε) one-hot + ε / C uniform (Szegedy et al.).
- ``sce``: symmetric cross-entropy (Wang et al. 2019), α·CE + β·RCE, where the reverse term
  RCE = -Σ_k p_k log q_k swaps prediction p and label q, with the one-hot q clamped to
  [1e-4, 1] so log 0 is finite: RCE = -log(1e-4)·(1 - p_y), bounded in [0, 9.21] and hence
  robust to wrong labels (e.g. weak synthetic variants that look like another identity).

All take logits (N, C) float and integer labels (N,) and return the batch mean (a scalar).
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


def make_criterion(loss: str, label_smoothing: float = 0.0, sce_alpha: float = 0.1,
                   sce_beta: float = 1.0) -> nn.Module:
    """The training criterion named ``loss`` (one of :data:`LOSSES`); ε = ``label_smoothing``."""
    if loss == "ce":
        return nn.CrossEntropyLoss()
    if loss == "ls":
        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    if loss == "sce":
        return SymmetricCrossEntropy(sce_alpha, sce_beta)
    raise SynthreidError(f"loss {loss!r}: unknown (valid: {', '.join(LOSSES)})")
