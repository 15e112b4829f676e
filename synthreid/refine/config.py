"""RefinerConfig: every option of a refiner run, frozen and JSON-serialisable.

Defaults follow design §6 (the CycleGAN reference defaults) at person-shaped 64x128 (WIDTHxHEIGHT) crops.
Pure Python: no torch import, so the CLI can build and validate configs cheaply.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from synthreid.refine.errors import RefineError

MODELS = ("cyclegan", "ptgan", "fgbg")
GENERATORS = ("resnet_9blocks", "resnet_6blocks")
DISCRIMINATORS = ("basic",)
RECON_LOSSES = ("l1", "l2", "l1+l2", "huber")  # mirrors refine.losses (kept torch-free here)
_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_size(text) -> tuple[int, int]:
    """The model size as ``(height, width)`` pixels (tensor order), both positive and divisible by 4.

    Accepts the command-line convention ``"WIDTHxHEIGHT"`` (``"64x128"``: 64 wide, 128 high),
    a ``synthreid.cliutil.Size`` (width, height), or a bare ``(height, width)`` pair as stored
    in run folders made before sizes were written as strings.
    """
    if hasattr(text, "width") and hasattr(text, "height"):
        h, w = text.height, text.width
    elif isinstance(text, (tuple, list)):
        if len(text) != 2:
            raise RefineError(f"size: expected (height, width), got {text!r}")
        h, w = text
    else:
        m = _SIZE_RE.match(str(text))
        if not m:
            raise RefineError(f"size: expected WIDTHxHEIGHT such as '64x128', got {text!r}")
        w, h = m.groups()
    try:
        h, w = int(h), int(w)
    except (TypeError, ValueError) as exc:
        raise RefineError(f"size: expected integers, got {text!r}") from exc
    if h <= 0 or w <= 0 or h % 4 or w % 4:
        raise RefineError(
            f"size: {w}x{h} (WIDTHxHEIGHT) invalid, both sides must be positive and divisible by 4 "
            "(two stride-2 down/upsamplings), e.g. 64x128 or 128x256"
        )
    return h, w


def format_size(size: tuple[int, int]) -> str:
    """``(height, width)`` -> ``"WIDTHxHEIGHT"``, the form written to config.json and shown to users."""
    h, w = size
    return f"{w}x{h}"


@dataclass(frozen=True)
class RefinerConfig:
    """Options of one refiner run.

    Domain A is the rendered ``source`` dataset (canonical layout, masks required); domain B
    is the ``target`` folder of real camera images (masks in ``target_masks``, same stems,
    optional except for ``ptgan``). ``size`` is held as (height, width) pixels (tensor order) and
    given/written as the string ``"WIDTHxHEIGHT"`` (config.json: ``"size": "64x128"``); a landscape
    size (width > height) is refused unless ``allow_landscape``. Iterations count
    generator updates; the learning rate is constant for ``iters - decay_iters`` iterations,
    then decays linearly to zero. Loss weights: ``lambda_cycle`` per direction,
    ``lambda_identity`` as a fraction of it (0 disables), ``lambda_mask_id`` (ptgan),
    ``lambda_fg`` / ``lambda_bg`` (fgbg). ``recon_loss`` is the cycle/identity distance
    (``huber_delta`` in [-1, 1] image units). fgbg only: ``bg_discriminator`` (None = on) adds a
    PatchGAN on person-removed images weighted ``lambda_bg_gan``; ``mask_feather`` px ramps
    the masks. ``eval_images`` source images are held out of training and evaluated at each
    checkpoint together with as many target images (0: no evaluation, nothing held out).
    """

    source: str
    target: str
    target_masks: str | None = None
    model: str = "cyclegan"
    size: tuple[int, int] = (128, 64)  # (height, width) px; "64x128" as text
    allow_landscape: bool = False  # person crops are portrait: a wider-than-high size is most likely swapped
    generator: str = "resnet_9blocks"
    discriminator: str = "basic"
    n_layers_d: int = 3
    ngf: int = 64
    ndf: int = 64
    iters: int = 100_000
    decay_iters: int | None = None  # None: the second half of ``iters`` decays
    batch_size: int = 1
    lr: float = 2e-4
    beta1: float = 0.5
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    lambda_mask_id: float = 10.0
    lambda_fg: float = 70.0
    lambda_bg: float = 30.0
    bg_discriminator: bool | None = None  # None: on for fgbg (resolved in __post_init__)
    lambda_bg_gan: float = 1.0
    mask_feather: int = 2  # pixels at the model size
    recon_loss: str = "l1"
    huber_delta: float = 0.1
    eval_images: int = 16
    pool_size: int = 50
    load_scale: float = 1.125  # resize to size*scale, then random crop back to size
    flip: bool = True
    seed: int = 0
    amp: bool = True  # only takes effect on CUDA
    checkpoint_every: int = 1000
    sample_every: int = 500
    log_every: int = 10
    num_workers: int = 0
    extra: dict = field(default_factory=dict)  # free-form notes recorded with the run

    def __post_init__(self):  # noqa: C901, PLR0912 - one independent range check per config field
        object.__setattr__(self, "size", parse_size(self.size))
        if not isinstance(self.allow_landscape, bool):
            raise RefineError(f"allow_landscape: expected true/false, got {self.allow_landscape!r}")
        if self.size[1] > self.size[0] and not self.allow_landscape:
            h, w = self.size
            raise RefineError(
                f"size: {w}x{h} is landscape (WIDTHxHEIGHT: {w} wide, {h} high) but person crops are "
                f"portrait; did you mean {h}x{w}? (--force-landscape / allow_landscape=True to train it anyway)"
            )
        # Recorded as "this run is landscape on purpose": a portrait run's config (and so its
        # resume check) does not depend on whether the flag was given.
        object.__setattr__(self, "allow_landscape", self.size[1] > self.size[0])
        if self.model not in MODELS:
            raise RefineError(f"model: unknown {self.model!r}, expected one of {', '.join(MODELS)}")
        if self.generator not in GENERATORS:
            raise RefineError(
                f"generator: unknown {self.generator!r}, expected one of {', '.join(GENERATORS)}"
            )
        if self.discriminator not in DISCRIMINATORS:
            raise RefineError(
                f"discriminator: unknown {self.discriminator!r}, expected one of {', '.join(DISCRIMINATORS)}"
            )
        for name in (
            "n_layers_d",
            "ngf",
            "ndf",
            "iters",
            "batch_size",
            "checkpoint_every",
            "sample_every",
            "log_every",
        ):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise RefineError(f"{name}: expected a positive integer, got {v!r}")
        if self.recon_loss not in RECON_LOSSES:
            raise RefineError(
                f"recon_loss: unknown {self.recon_loss!r}, expected one of {', '.join(RECON_LOSSES)}"
            )
        if self.bg_discriminator is None:
            object.__setattr__(self, "bg_discriminator", self.model == "fgbg")
        if not isinstance(self.bg_discriminator, bool):
            raise RefineError(f"bg_discriminator: expected true/false, got {self.bg_discriminator!r}")
        if self.bg_discriminator and self.model != "fgbg":
            raise RefineError(f"bg_discriminator: only the fgbg model has one (model is {self.model!r})")
        for name in ("pool_size", "num_workers", "seed", "mask_feather", "eval_images"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise RefineError(f"{name}: expected an integer >= 0, got {v!r}")
        if self.decay_iters is not None and not 0 <= self.decay_iters <= self.iters:
            raise RefineError(f"decay_iters: expected 0..iters ({self.iters}), got {self.decay_iters!r}")
        for name in (
            "lr",
            "lambda_cycle",
            "lambda_identity",
            "lambda_mask_id",
            "lambda_fg",
            "lambda_bg",
            "lambda_bg_gan",
        ):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v < 0 or v != v:
                raise RefineError(f"{name}: expected a number >= 0, got {v!r}")
        if not isinstance(self.huber_delta, (int, float)) or not self.huber_delta > 0:
            raise RefineError(f"huber_delta: expected a number > 0, got {self.huber_delta!r}")
        if not 0 <= self.beta1 < 1:
            raise RefineError(f"beta1: expected 0 <= beta1 < 1, got {self.beta1!r}")
        if not 1.0 <= self.load_scale <= 2.0:
            raise RefineError(f"load_scale: expected 1.0..2.0, got {self.load_scale!r}")
        min_side = 3 * 2**self.n_layers_d  # n stride-2 convs then two 4x4 stride-1 convs
        if min(self.size) < min_side:
            raise RefineError(
                f"size: {format_size(self.size)} is too small for a {self.n_layers_d}-layer PatchGAN "
                f"(each side >= {min_side}); use a larger size or a smaller n_layers_d"
            )
        if self.model == "ptgan" and not self.target_masks:
            raise RefineError(
                "target_masks: the ptgan model needs person masks of the target images "
                "(--target-masks DIR, one PNG per image with the same stem)"
            )

    @property
    def n_decay(self) -> int:
        return self.iters // 2 if self.decay_iters is None else self.decay_iters

    def lr_factor(self, it: int) -> float:
        """Learning-rate multiplier after ``it`` completed iterations: 1, then linear to 0."""
        n_const = self.iters - self.n_decay
        return 1.0 - max(0, it - n_const) / float(self.n_decay + 1)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["size"] = format_size(self.size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RefinerConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise RefineError(
                f"config: unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(names))})"
            )
        if "allow_landscape" not in d and isinstance(d.get("size"), list):
            # Runs made before the landscape guard stored [height, width]; load them as trained.
            d = {**d, "allow_landscape": True}
        try:
            return cls(**d)
        except TypeError as exc:
            raise RefineError(f"config: {exc}") from exc
