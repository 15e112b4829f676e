"""Loss terms of the refiners. Images are (N, 3, H, W) in [-1, 1]; masks (N, 1, H, W) in [0, 1]."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def lsgan_loss(scores: torch.Tensor, real: bool) -> torch.Tensor:
    """LSGAN: mean squared distance of PatchGAN scores to 1 (real) or 0 (fake)."""
    target = torch.ones_like(scores) if real else torch.zeros_like(scores)
    return F.mse_loss(scores.float(), target.float())


def l1_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference over every element (cycle and identity losses)."""
    return F.l1_loss(a.float(), b.float())


def masked_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Mean of |a - b| over the masked pixels: sum(|a - b| * m) / (C * sum(m)), 0 for empty masks.

    Normalising by the mask area keeps the weight independent of how large the person is in
    the crop; pixels outside the mask never contribute.
    """
    diff = (a.float() - b.float()).abs() * mask.float()
    area = mask.float().sum() * a.shape[1]
    return diff.sum() / (area + eps)


def masked_identity_loss(translated: torch.Tensor, original: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """PTGAN identity loss ||(G(a) - a) * M(a)||_1 (L1 as in the Lund thesis), mean per masked pixel."""
    return masked_l1(translated, original, mask)


def fg_bg_losses(translated: torch.Tensor, original: torch.Tensor, mask: torch.Tensor,
                 target: torch.Tensor, target_mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Imperial M4 terms: (fg, bg), unweighted.

    fg = |G(x) - x| over the person (mask of x); bg = |G(x) - y| where neither image shows a
    person, y being an unpaired image of the target camera (its mask may be None: then only
    the mask of x excludes pixels).
    """
    fg = masked_l1(translated, original, mask)
    bg_mask = 1.0 - mask.float()
    if target_mask is not None:
        bg_mask = bg_mask * (1.0 - target_mask.float())
    bg = masked_l1(translated, target, bg_mask)
    return fg, bg
