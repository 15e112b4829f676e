"""``synthreid degrade``: a new dataset with the camera model applied (see ``render.camera_model``)."""

from __future__ import annotations

from synthreid.cliutil import non_negative_int
from synthreid.errors import SpecError

DESCRIPTION = (
    "Apply a surveillance-camera model to every crop of DATASET and write a new dataset (kind 'degraded'): "
    "detector-like box jitter (mask and joints follow), per-camera exposure, colour cast, gamma and vignetting, "
    "optical and motion blur, downscaling to a sampled person height, sensor noise and a JPEG round trip, then "
    "back to the crop size. Each camera id gets one consistent set of settings from (seed, camera id); each "
    "image varies it a little from (seed, image name). The label rows record what was applied (camera_model). "
    "With --occlusion RATE (or the preset surveillance+occlusion, or an [occlusion] table in --config) a share "
    "of the crops first gets another person of the dataset or a post, bin, railing or bag composited in front "
    "of or behind the person; the mask keeps the person's visible part and the label row says what occludes "
    "how much (occlusion). An interrupted run resumes when run again. See docs/camera_model.md."
)


def cmd_degrade(args) -> int:
    import dataclasses

    from synthreid.render.camera_model import CameraModelSpec
    from synthreid.render.degrade import degrade_dataset
    from synthreid.render.occlusion import OcclusionSpec

    if args.config and args.preset:
        raise SpecError("--config", "give --config TOML or --preset NAME, not both")
    preset: str | None = None if args.config else str(args.preset or "surveillance")
    spec = CameraModelSpec.from_toml(args.config) if preset is None else CameraModelSpec.preset(preset)
    if args.occlusion is not None:  # the given rate, the other occlusion values of the spec or the defaults
        try:
            occlusion = dataclasses.replace(spec.occlusion or OcclusionSpec(), rate=args.occlusion)
        except SpecError as exc:
            raise SpecError("--occlusion", str(exc)) from exc
        spec, preset = dataclasses.replace(spec, occlusion=occlusion), None
    out = degrade_dataset(
        args.dataset, args.out, spec, seed=args.seed, name=args.name, preset=preset, progress=not args.quiet
    )
    print(f"wrote {out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "degrade",
        help="apply a surveillance-camera model to a dataset (a new dataset)",
        description=DESCRIPTION,
    )
    p.add_argument("dataset", help="source dataset folder")
    p.add_argument("--out", required=True, metavar="DIR", help="folder of the new dataset")
    p.add_argument("--name", help="name of the new dataset (default: the folder name)")
    p.add_argument(
        "--config",
        metavar="TOML",
        help="camera-model ranges (fields of docs/camera_model.md; missing ones keep the "
        "surveillance values)",
    )
    p.add_argument("--preset", help="a built-in camera model (default: surveillance)")
    p.add_argument(
        "--occlusion",
        type=float,
        metavar="RATE",
        help="share of the crops (0-1) occluded by other people or objects before the camera "
        "(other values from --config/--preset, else the defaults of docs/camera_model.md)",
    )
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of every random choice")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_degrade)
