"""``synthreid refine train|apply``: thin wrappers over ``refine.train.train`` and ``refine.apply.apply``.

torch is imported inside the command functions only (``synthreid --help`` imports this module).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from synthreid.refine.config import GENERATORS, MODELS, RECON_LOSSES


def register(sub) -> None:
    p = sub.add_parser("refine", help="train and apply GAN refiners (renders -> target camera look)")
    rsub = p.add_subparsers(dest="refine_command", metavar="SUBCOMMAND")
    rsub.required = True

    t = rsub.add_parser("train", help="train a refiner between a rendered dataset and target images",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("--source", required=True, help="rendered dataset folder (canonical layout, with masks)")
    t.add_argument("--target", required=True, help="folder of target-camera images (png/jpg)")
    t.add_argument("--target-masks", default=None, help="folder of target person masks <stem>.png (ptgan needs it)")
    t.add_argument("--model", choices=MODELS, default="cyclegan")
    t.add_argument("--size", default="128x64", help="HEIGHTxWIDTH, both divisible by 4 (128x64 or 256x128)")
    t.add_argument("--iters", type=int, default=100_000, help="generator updates (second half decays lr)")
    t.add_argument("--out", default=None,
                   help="run folder (default refiner-runs/<source>-<target>-<model>); rerun to resume")
    t.add_argument("--generator", choices=GENERATORS, default="resnet_9blocks")
    t.add_argument("--ngf", type=int, default=64, help="generator width (first layer channels)")
    t.add_argument("--ndf", type=int, default=64, help="discriminator width")
    t.add_argument("--n-layers-d", type=int, default=3, help="PatchGAN depth (3 = 70x70 patches)")
    t.add_argument("--batch-size", type=int, default=1)
    t.add_argument("--lr", type=float, default=2e-4)
    t.add_argument("--lambda-cycle", type=float, default=10.0)
    t.add_argument("--lambda-identity", type=float, default=0.5, help="fraction of lambda-cycle; 0 disables")
    t.add_argument("--lambda-mask-id", type=float, default=10.0, help="ptgan masked identity weight")
    t.add_argument("--lambda-fg", type=float, default=70.0, help="fgbg person weight")
    t.add_argument("--lambda-bg", type=float, default=30.0, help="fgbg background weight")
    t.add_argument("--bg-discriminator", action=argparse.BooleanOptionalAction, default=None,
                   help="fgbg: a PatchGAN on person-removed images (None: on for fgbg)")
    t.add_argument("--lambda-bg-gan", type=float, default=1.0, help="fgbg background discriminator weight")
    t.add_argument("--mask-feather", type=int, default=2, help="fgbg: mask ramp width in pixels (0 = hard)")
    t.add_argument("--recon-loss", choices=RECON_LOSSES, default="l1", help="cycle and identity distance")
    t.add_argument("--huber-delta", type=float, default=0.1, help="huber threshold in [-1, 1] image units")
    t.add_argument("--eval-images", type=int, default=16,
                   help="renders held out for the per-checkpoint evaluation (metrics.json, eval.csv); 0 = none")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--workers", type=int, default=2, help="data loader processes")
    t.add_argument("--checkpoint-every", type=int, default=1000)
    t.add_argument("--sample-every", type=int, default=500)
    t.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    t.set_defaults(func=cmd_train)

    a = rsub.add_parser("apply", help="translate a dataset with a trained refiner into a new dataset",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    a.add_argument("run", help="refiner run folder")
    a.add_argument("--source", required=True, help="dataset folder to translate")
    a.add_argument("--name", required=True, help="name of the new dataset (a folder next to the source)")
    a.add_argument("--out", default=None, help="folder of the new dataset (default <source parent>/<name>)")
    a.add_argument("--checkpoint", default=None, help="checkpoint file (default RUN/checkpoints/latest.pt)")
    a.add_argument("--batch-size", type=int, default=16)
    a.add_argument("--workers", type=int, default=2, help="data loader processes")
    a.add_argument("--device", default="auto")
    a.set_defaults(func=cmd_apply)


def cmd_train(args) -> int:
    from synthreid.refine.config import RefinerConfig
    from synthreid.refine.train import train

    config = RefinerConfig(
        source=str(args.source), target=str(args.target), target_masks=args.target_masks, model=args.model,
        size=args.size, generator=args.generator, ngf=args.ngf, ndf=args.ndf, n_layers_d=args.n_layers_d,
        iters=args.iters, batch_size=args.batch_size, lr=args.lr,
        lambda_cycle=args.lambda_cycle, lambda_identity=args.lambda_identity,
        lambda_mask_id=args.lambda_mask_id, lambda_fg=args.lambda_fg, lambda_bg=args.lambda_bg,
        bg_discriminator=args.bg_discriminator, lambda_bg_gan=args.lambda_bg_gan, mask_feather=args.mask_feather,
        recon_loss=args.recon_loss, huber_delta=args.huber_delta, eval_images=args.eval_images,
        seed=args.seed, num_workers=args.workers, checkpoint_every=args.checkpoint_every,
        sample_every=args.sample_every, amp=not args.no_amp,
    )
    out = args.out or Path("refiner-runs") / (
        f"{Path(args.source).resolve().name}-{Path(args.target).resolve().name}-{args.model}")
    run_dir = train(config, out, device=args.device)
    print(run_dir)
    return 0


def cmd_apply(args) -> int:
    from synthreid.refine.apply import apply

    out = apply(args.run, args.source, out_dir=args.out, name=args.name, checkpoint=args.checkpoint,
                batch_size=args.batch_size, device=args.device, num_workers=args.workers)
    print(out)
    return 0
