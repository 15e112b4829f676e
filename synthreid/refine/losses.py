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


def masked_identity_loss(
    translated: torch.Tensor, original: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """PTGAN identity loss ||(G(a) - a) * M(a)||_1 (L1 as in the Lund thesis), mean per masked pixel."""
    return masked_l1(translated, original, mask)


def fg_bg_losses(
    translated: torch.Tensor,
    original: torch.Tensor,
    mask: torch.Tensor,
    target: torch.Tensor,
    target_mask: torch.Tensor | None,
    feather: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Imperial M4 terms: (fg, bg), unweighted.

    fg = |G(x) - x| over the person of x (mask feathered by ``feather`` px, so the person's
    edge is held too); bg = |G(x) - y| over the rest, y an unpaired target-camera image.
    Without a target mask every background pixel of x is compared with y. With one, y's own
    person is not a valid target: there y is replaced by a smooth fill of y's background
    (``background_fill``), weighted by the fill's certainty. This closes the "continuity
    split" of M4, where the band covered by y's person but not by x's got only GAN loss and
    the background left and right of the person drifted apart.
    """
    m = feather_mask(mask, feather)
    fg = masked_l1(translated, original, m)
    bg_w = 1.0 - m
    if target_mask is None:
        return fg, masked_l1(translated, target, bg_w)
    mt = feather_mask(target_mask, feather)
    fill, certainty = background_fill(target, mt)
    y_hat = target.float() * (1.0 - mt) + fill * mt
    bg = masked_l1(translated, y_hat, bg_w * ((1.0 - mt) + mt * certainty))
    return fg, bg


RECON_LOSSES = ("l1", "l2", "l1+l2", "huber")


def recon_loss(a: torch.Tensor, b: torch.Tensor, kind: str = "l1", delta: float = 0.1) -> torch.Tensor:
    """Cycle/identity reconstruction distance, mean over every element (images in [-1, 1]).

    ``l1`` mean |a-b|; ``l2`` mean (a-b)^2; ``l1+l2`` their sum (best re-ID scores in DG-Net on
    Market, worst on Duke: validate per target); ``huber`` smooth L1 = Huber/delta:
    0.5 (a-b)^2 / delta below ``delta``, |a-b| - delta/2 above, so large errors weigh as in L1.
    """
    a, b = a.float(), b.float()
    if kind == "l1":
        return F.l1_loss(a, b)
    if kind == "l2":
        return F.mse_loss(a, b)
    if kind == "l1+l2":
        return F.l1_loss(a, b) + F.mse_loss(a, b)
    if kind == "huber":
        return F.smooth_l1_loss(a, b, beta=delta)
    raise ValueError(f"recon_loss: unknown kind {kind!r}, expected one of {', '.join(RECON_LOSSES)}")


def feather_mask(mask: torch.Tensor, px: int) -> torch.Tensor:
    """Grow a (N, 1, H, W) mask in [0, 1] by a linear ramp ``px`` pixels wide.

    Result = mean over k = 0..px-1 of the mask dilated by k pixels (3x3 max-pool k times): 1 on
    the person, (px - d) / px at chessboard distance d <= px from it, 0 beyond. Values stay in
    [0, 1] and never fall below the input, so the whole person region stays at 1.
    """
    if px <= 0:
        return mask
    cur = mask.float()
    acc = cur.clone()
    for _ in range(px - 1):
        cur = F.max_pool2d(cur, 3, stride=1, padding=1)
        acc = acc + cur
    return acc / px


def _box_blur(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Two passes of a (2r+1)^2 box filter with zero padding (a cheap, tent-shaped blur),
    each done separably (rows then columns: O(r) rather than O(r^2) per pixel)."""
    k = 2 * radius + 1
    for _ in range(2):
        x = F.avg_pool2d(x, (1, k), stride=1, padding=(0, radius), count_include_pad=True)
        x = F.avg_pool2d(x, (k, 1), stride=1, padding=(radius, 0), count_include_pad=True)
    return x


def background_fill(
    img: torch.Tensor, hole: torch.Tensor, radius: int | None = None, eps: float = 1e-3
) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth guess of the background under a hole, from background pixels only.

    Normalised convolution: fill = blur(img * (1 - hole)) / blur(1 - hole). ``img`` (N, C, H, W),
    ``hole`` (N, 1, H, W) in [0, 1]; ``radius`` defaults to a quarter of the smaller side.
    Returns (fill (N, C, H, W), certainty (N, 1, H, W) in [0, 1] = min(1, 2 * blur(1 - hole)),
    0 where no background pixel is within reach (fill is then 0)). Pixels with hole = 1 do not
    influence either output.
    """
    if radius is None:
        radius = max(1, min(img.shape[-2:]) // 4)
    keep = 1.0 - hole.float()
    weight = _box_blur(keep, radius)
    num = _box_blur(img.float() * keep, radius)
    fill = torch.where(weight > eps, num / weight.clamp_min(eps), torch.zeros_like(num))
    certainty = torch.where(weight > eps, (2.0 * weight).clamp(max=1.0), torch.zeros_like(weight))
    return fill, certainty


def remove_person(img: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) image with the (soft) hole replaced by its background fill:
    img * (1 - hole) + fill * hole. Pixels where hole = 1 cannot change the result."""
    fill, _ = background_fill(img, hole)
    h = hole.float()
    return img.float() * (1.0 - h) + fill * h
