"""RefinerModel: the two generators, two discriminators and one training step of every variant.

Domain A = renders, domain B = target camera. G_AB translates renders to the target look
(the refiner that ``apply`` uses), G_BA goes back; D_A / D_B judge domains A / B.

Variants (design §6):
  cyclegan  LSGAN + lambda_cycle * L1 cycle (per direction) + lambda_identity * lambda_cycle * identity
  ptgan     cyclegan + lambda_mask_id * ||(G(x) - x) * M(x)||_1 in both directions
  fgbg      cyclegan + lambda_fg * ||G(x) - x|| over the person + lambda_bg * ||G(x) - y|| over the
            background of both x and an unpaired target image y (Imperial M4); A->B always,
            B->A too when target masks exist

Reconstruction distance d of the cycle and identity terms: ``config.recon_loss`` (l1 default).

fgbg in full (x = render, m = its person mask, y = unpaired target image, n = y's mask or
none, f(.) = mask feathered by ``mask_feather`` px, R(img, h) = img * (1 - h) + fill(img) * h
with fill the normalised-convolution blur of img's pixels outside h, see losses.remove_person):

  L_G = cyclegan terms
        + lambda_fg * |G(x) - x|  over f(m)
        + lambda_bg * |G(x) - y'| over (1 - f(m)) * ((1 - f(n)) + f(n) * certainty)
          (y' = y with its person replaced by its background fill; = y without target masks)
        + lambda_bg_gan * (D_bg(R(G(x), f(m))) - 1)^2                      [bg_discriminator]
  L_D_bg = 0.5 * [(D_bg(R(y, h_y)) - 1)^2 + D_bg(pool(R(G(x), f(m))))^2]
          h_y = f(n) with target masks, else f(m) (then y's own person may stay partly visible)

D_bg is a PatchGAN like D_B. As R removes everything under the person mask, D_bg never sees
the render's person (which lambda_fg holds) and pushes only the background toward the target
camera, including the band between the two persons' masks.
"""

from __future__ import annotations

import contextlib

import torch

from synthreid.refine.config import RefinerConfig
from synthreid.refine.errors import RefineError
from synthreid.refine.losses import (
    feather_mask,
    fg_bg_losses,
    lsgan_loss,
    masked_identity_loss,
    recon_loss,
    remove_person,
)
from synthreid.refine.networks import build_discriminator, build_generator
from synthreid.refine.pool import ImagePool

NETS = ("G_AB", "G_BA", "D_A", "D_B")


class RefinerModel:
    """Networks, Adam optimisers, linear-decay schedulers, image pools and AMP scalers."""

    def __init__(self, config: RefinerConfig, device: str | torch.device = "cpu"):
        self.config = c = config
        self.device = torch.device(device)
        self.use_amp = bool(c.amp and self.device.type == "cuda")
        g = torch.Generator().manual_seed(c.seed)
        self.G_AB = build_generator(c.generator, c.ngf, g).to(self.device)
        self.G_BA = build_generator(c.generator, c.ngf, g).to(self.device)
        self.D_A = build_discriminator(c.discriminator, c.n_layers_d, c.ndf, g).to(self.device)
        self.D_B = build_discriminator(c.discriminator, c.n_layers_d, c.ndf, g).to(self.device)
        # Built after the others so that the initial weights of those do not depend on it.
        self.D_bg = (
            build_discriminator(c.discriminator, c.n_layers_d, c.ndf, g).to(self.device)
            if c.bg_discriminator
            else None
        )
        betas = (c.beta1, 0.999)
        self.opt_G = torch.optim.Adam(
            list(self.G_AB.parameters()) + list(self.G_BA.parameters()), lr=c.lr, betas=betas
        )
        self.opt_D = torch.optim.Adam(
            [p for d in self.discriminators for p in d.parameters()], lr=c.lr, betas=betas
        )
        self.sched_G = torch.optim.lr_scheduler.LambdaLR(self.opt_G, lambda it: c.lr_factor(it))
        self.sched_D = torch.optim.lr_scheduler.LambdaLR(self.opt_D, lambda it: c.lr_factor(it))
        self.pool_A = ImagePool(c.pool_size, seed=[c.seed, 1])
        self.pool_B = ImagePool(c.pool_size, seed=[c.seed, 2])
        self.pool_bg = ImagePool(c.pool_size, seed=[c.seed, 3])
        self.scaler_G = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.scaler_D = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.iteration = 0

    @property
    def nets(self) -> tuple[str, ...]:
        """Names of the networks this model has (NETS, plus D_bg when enabled)."""
        return NETS + (("D_bg",) if self.D_bg is not None else ())

    @property
    def discriminators(self) -> tuple[torch.nn.Module, ...]:
        return (self.D_A, self.D_B) + ((self.D_bg,) if self.D_bg is not None else ())

    def bg_view(self, img: torch.Tensor, person_mask: torch.Tensor) -> torch.Tensor:
        """What D_bg sees: (N, 3, H, W) ``img`` with the feathered ``person_mask`` (N, 1, H, W)
        region replaced by the fill of its surrounding background (``losses.remove_person``)."""
        return remove_person(img, feather_mask(person_mask, self.config.mask_feather))

    def _autocast(self):
        if self.use_amp:
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    @staticmethod
    def _requires_grad(nets, flag: bool) -> None:
        for net in nets:
            for p in net.parameters():
                p.requires_grad_(flag)

    def step(self, batch: dict) -> dict[str, float]:
        """One generator update then one discriminator update on a batch.

        ``batch``: a, b (N, 3, H, W) in [-1, 1]; mask_a, mask_b (N, 1, H, W) in [0, 1]
        (mask_b all zeros when the target has no masks). Returns every loss term as a float.
        """
        dev = self.device
        a, b = batch["a"].to(dev, non_blocking=True), batch["b"].to(dev, non_blocking=True)
        ma, mb = batch["mask_a"].to(dev, non_blocking=True), batch["mask_b"].to(dev, non_blocking=True)

        # Generators: D parameters frozen so that G's backward does not accumulate into them.
        self._requires_grad(self.discriminators, False)
        self.opt_G.zero_grad(set_to_none=True)
        with self._autocast():
            losses, fake_a, fake_b, fake_bg = self._generator_losses(a, b, ma, mb)
            loss_g = sum(losses.values())
        self.scaler_G.scale(loss_g).backward()
        self.scaler_G.step(self.opt_G)
        self.scaler_G.update()

        d_losses = self._discriminator_step(a, b, ma, mb, fake_a, fake_b, fake_bg)
        self.sched_G.step()
        self.sched_D.step()
        self.iteration += 1
        losses["G"] = loss_g
        losses.update(d_losses)
        values = torch.stack([v.detach().float() for v in losses.values()]).tolist()  # one device sync
        return dict(zip(losses, values, strict=True))

    def _generator_losses(self, a, b, ma, mb):
        """(every generator loss term, fake_a, fake_b, fake background view or None); under autocast."""
        c = self.config
        fake_b = self.G_AB(a)
        rec_a = self.G_BA(fake_b)
        fake_a = self.G_BA(b)
        rec_b = self.G_AB(fake_a)
        losses: dict[str, torch.Tensor] = {
            "G_AB": lsgan_loss(self.D_B(fake_b), True),
            "G_BA": lsgan_loss(self.D_A(fake_a), True),
        }

        def rec(x, y):
            return recon_loss(x, y, c.recon_loss, c.huber_delta)

        losses["cycle_A"] = c.lambda_cycle * rec(rec_a, a)
        losses["cycle_B"] = c.lambda_cycle * rec(rec_b, b)
        if c.lambda_identity > 0:
            w = c.lambda_cycle * c.lambda_identity
            losses["idt_A"] = w * rec(self.G_BA(a), a)
            losses["idt_B"] = w * rec(self.G_AB(b), b)
        fake_bg = None
        if c.model == "ptgan":
            losses["mask_id_A"] = c.lambda_mask_id * masked_identity_loss(fake_b, a, ma)
            losses["mask_id_B"] = c.lambda_mask_id * masked_identity_loss(fake_a, b, mb)
        elif c.model == "fgbg":
            has_mb = bool(c.target_masks)
            fg, bg = fg_bg_losses(fake_b, a, ma, b, mb if has_mb else None, c.mask_feather)
            losses["fg_A"], losses["bg_A"] = c.lambda_fg * fg, c.lambda_bg * bg
            if has_mb:
                fg, bg = fg_bg_losses(fake_a, b, mb, a, ma, c.mask_feather)
                losses["fg_B"], losses["bg_B"] = c.lambda_fg * fg, c.lambda_bg * bg
            if self.D_bg is not None:
                fake_bg = self.bg_view(fake_b, ma)
                losses["G_bg"] = c.lambda_bg_gan * lsgan_loss(self.D_bg(fake_bg), True)
        return losses, fake_a, fake_b, fake_bg

    def _discriminator_step(self, a, b, ma, mb, fake_a, fake_b, fake_bg) -> dict[str, torch.Tensor]:
        """Real vs. a fake from the pool's history, loss halved; returns D_A, D_B (and D_bg)."""
        self._requires_grad(self.discriminators, True)
        self.opt_D.zero_grad(set_to_none=True)
        pooled_b = self.pool_B.query(fake_b.detach())
        pooled_a = self.pool_A.query(fake_a.detach())
        with self._autocast():
            loss_d_b = 0.5 * (lsgan_loss(self.D_B(b), True) + lsgan_loss(self.D_B(pooled_b), False))
            loss_d_a = 0.5 * (lsgan_loss(self.D_A(a), True) + lsgan_loss(self.D_A(pooled_a), False))
            out = {"D_A": loss_d_a, "D_B": loss_d_b}
            loss_d = loss_d_a + loss_d_b
            if self.D_bg is not None:
                real_bg = self.bg_view(b, mb if self.config.target_masks else ma)
                pooled_bg = self.pool_bg.query(fake_bg.detach())
                out["D_bg"] = 0.5 * (
                    lsgan_loss(self.D_bg(real_bg), True) + lsgan_loss(self.D_bg(pooled_bg), False)
                )
                loss_d = loss_d + out["D_bg"]
        self.scaler_D.scale(loss_d).backward()
        self.scaler_D.step(self.opt_D)
        self.scaler_D.update()
        return out

    @torch.no_grad()
    def translate(self, x: torch.Tensor, direction: str = "AB") -> torch.Tensor:
        """(N, 3, H, W) in [-1, 1] -> translated, same shape, float32 on ``x``'s device."""
        net = self.G_AB if direction == "AB" else self.G_BA
        with self._autocast():
            return net(x.to(self.device)).float().to(x.device)

    def state_dict(self) -> dict:
        return {
            "iteration": self.iteration,
            "config": self.config.to_dict(),
            **{name: getattr(self, name).state_dict() for name in self.nets},
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "sched_G": self.sched_G.state_dict(),
            "sched_D": self.sched_D.state_dict(),
            "pool_A": self.pool_A.state_dict(),
            "pool_B": self.pool_B.state_dict(),
            **({"pool_bg": self.pool_bg.state_dict()} if self.D_bg is not None else {}),
            "scaler_G": self.scaler_G.state_dict(),
            "scaler_D": self.scaler_D.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        try:
            for name in self.nets:
                getattr(self, name).load_state_dict(state[name])
            self.opt_G.load_state_dict(state["opt_G"])
            self.opt_D.load_state_dict(state["opt_D"])
            self.sched_G.load_state_dict(state["sched_G"])
            self.sched_D.load_state_dict(state["sched_D"])
            self.pool_A.load_state_dict(state["pool_A"])
            self.pool_B.load_state_dict(state["pool_B"])
            if self.D_bg is not None:
                self.pool_bg.load_state_dict(state["pool_bg"])
            if self.use_amp:
                self.scaler_G.load_state_dict(state["scaler_G"])
                self.scaler_D.load_state_dict(state["scaler_D"])
            self.iteration = int(state["iteration"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise RefineError(f"checkpoint does not match this model ({type(exc).__name__}: {exc})") from exc
