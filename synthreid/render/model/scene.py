"""The surroundings and viewpoint of one image: camera, light, background, pose (typed).

World frame: Z up, metres; the person stands at the origin facing -Y. Colours are linear RGB
in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, field

from synthreid.render.model.person import RGB

Vec3 = tuple[float, float, float]
WALL_TEXTURES = ("brick", "tiles", "plaster", "wood", "concrete", "stripes")
FLOOR_TEXTURES = ("tiles", "wood", "concrete", "checker", "asphalt")
SURFACES = ("plain", "shadow_catcher", *sorted(set(WALL_TEXTURES) | set(FLOOR_TEXTURES)))
BACKGROUND_MODES = ("room", "room_varied", "textured", "images", "panorama")


@dataclass(frozen=True)
class CameraPlan:
    """One camera pose on the hemisphere segment around ``target_m``.

    ``polar_deg`` from +Z (0 = straight above, 90 = level), ``azimuth_deg`` from +X towards +Y
    in [0, 360); ``camid``: 1-based azimuth bin.
    """

    position_m: Vec3
    target_m: Vec3
    distance_m: float
    polar_deg: float
    azimuth_deg: float
    camid: int


@dataclass(frozen=True)
class LightPlan:
    """The sun (strength W/m^2, elevation and azimuth in degrees, black-body temperature in
    kelvin and its linear RGB) and the world's ambient strength."""

    sun_strength: float
    sun_elevation_deg: float
    sun_azimuth_deg: float
    sun_kelvin: float
    sun_color: RGB
    ambient: float


@dataclass(frozen=True)
class SurfacePlan:
    """A wall or floor: plain colour, a procedural texture (``color2``, ``scale`` x, ``seed``),
    or a shadow catcher (photo and panorama backgrounds; no further field)."""

    kind: str = field(metadata={"choices": SURFACES})
    color: RGB | None = None
    color2: RGB | None = None
    scale: float | None = None
    seed: int | None = None


@dataclass(frozen=True)
class BackgroundPlan:
    """Per-character surroundings (kept for all of the character's images, as in the thesis).

    room / room_varied / textured: ``wall`` and ``floor``; images: ``image`` (relative to
    ``background.images_dir``) behind the person; panorama: ``image`` (relative to
    ``background.panoramas_dir``) rotated by ``rotation_deg`` at ``strength``.
    """

    mode: str = field(metadata={"choices": BACKGROUND_MODES})
    floor: SurfacePlan
    wall: SurfacePlan | None = None
    image: str | None = None
    rotation_deg: float | None = None
    strength: float | None = None


@dataclass(frozen=True)
class BackgroundCrop:
    """Where a background photo is cut for one image: window ``scale`` (fraction of the photo),
    offset ``x``, ``y`` in [0, 1], mirrored when ``flip``."""

    scale: float
    x: float
    y: float
    flip: bool


@dataclass(frozen=True)
class WalkPose:
    """A frame of the walking cycle: ``phase`` in [0, 1) (0 = right heel strike), head yaw."""

    kind: str = field(default="walk", metadata={"choices": ("walk",)})
    phase: float = 0.0
    head_deg: float = 0.0


@dataclass(frozen=True)
class StandPose:
    """Standing: ``weight`` in [-1, 1] (left .. right foot), arms away from the body, head yaw."""

    kind: str = field(default="stand", metadata={"choices": ("stand",)})
    weight: float = 0.0
    arms_deg: float = 6.0
    head_deg: float = 0.0


@dataclass(frozen=True)
class BvhPose:
    """Frame ``frame`` (0-based) of the clip ``clip`` (relative to ``people.motion_dir``)."""

    kind: str = field(default="bvh", metadata={"choices": ("bvh",)})
    clip: str = ""
    frame: int = 0


PosePlan = WalkPose | StandPose | BvhPose
