"""Image pool (Shrivastava et al. 2017, as in CycleGAN): the discriminator sees a history of fakes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


class ImagePool:
    """Stores up to ``size`` generated images (each (3, H, W), on the device they came from).

    While filling, ``query`` returns its input. Once full, each image is, with probability
    0.5, swapped for a random stored one (returned) or passed through. ``size=0`` disables
    the pool. Random choices come from the pool's own seeded numpy Generator, whose state is
    part of ``state_dict`` so that a resumed run draws the same choices.
    """

    def __init__(self, size: int = 50, seed: int | Sequence[int] = 0):
        self.size = int(size)
        self.rng = np.random.default_rng(seed)
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) fakes -> (N, 3, H, W) batch for the discriminator (same device/dtype)."""
        if self.size == 0:
            return images
        out = []
        for img in images.detach():
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif self.rng.random() < 0.5:
                i = int(self.rng.integers(self.size))
                out.append(self.images[i].to(img.device, img.dtype))
                self.images[i] = img.clone()
            else:
                out.append(img)
        return torch.stack(out)

    def state_dict(self) -> dict:
        return {
            "size": self.size,
            "rng": self.rng.bit_generator.state,
            "images": torch.stack(self.images).cpu() if self.images else None,
        }

    def load_state_dict(self, state: dict) -> None:
        self.size = int(state["size"])
        self.rng.bit_generator.state = state["rng"]
        self.images = list(state["images"].unbind(0)) if state["images"] is not None else []
