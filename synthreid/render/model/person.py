"""What one person looks like: the typed result of ``sampling.people.sample_character``.

Units: metres, kilograms, years, degrees; colours are linear RGB in [0, 1]. Height is the
standing height barefoot (sole to top of the skull); shoes add their soles. The Blender side
(``render.blender.person``) builds exactly what a ``PersonPlan`` describes, so the same plan
always gives the same person.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from synthreid.render.model.codec import PlanError
from synthreid.render.spec import ACCESSORIES, BOTTOMS, HAIR, SHOES, TEXTURES, TOPS

RGB = tuple[float, float, float]
SEXES = ("female", "male")
HAND_POSES = ("free", "phone", "pockets")  # order of people.hand_poses
SLEEVES = ("none", "short", "three_quarter", "long")
FRINGES = ("none", "side", "bangs")
FACIAL_HAIR = ("stubble", "moustache", "beard", "goatee")
SIDES = ("left", "right")
GLASSES = ("sun", "clear")


def _choices(*values: str):
    return field(metadata={"choices": values})


@dataclass(frozen=True)
class BodyPlan:
    """Body proportions in metres (``stoop``: forward bend of the upper back, degrees)."""

    head_height: float
    head_width: float
    neck_length: float
    neck_radius: float
    shoulder_width: float
    chest_width: float
    chest_depth: float
    waist_width: float
    waist_depth: float
    hip_width: float
    hip_depth: float
    hip_joint_width: float
    leg_length: float
    knee_height: float
    ankle_height: float
    upper_arm: float
    forearm: float
    hand: float
    foot_length: float
    arm_radius: float
    thigh_radius: float
    calf_radius: float
    bust: float
    belly: float
    stoop: float


@dataclass(frozen=True)
class GaitPlan:
    """Walk style: stride, arm-swing and elbow-bend scales (x), forward lean (degrees)."""

    stride: float
    arm_swing: float
    elbow: float
    lean: float


@dataclass(frozen=True)
class TexturePlan:
    """A garment's fabric pattern; 'plain' has no further field.

    ``scale``: pattern period (m); ``angle``: stripes/checks rotation (deg); ``motif``: print
    motif; ``image``: absolute path of a user print (``appearance.textures_dir``);
    ``color3``: plaid's third colour.
    """

    kind: str = field(metadata={"choices": TEXTURES})
    scale: float | None = None
    color2: RGB | None = None
    angle: float | None = None
    seed: int | None = None
    motif: str | None = None
    image: str | None = None
    color3: RGB | None = None


@dataclass(frozen=True)
class TopPlan:
    """Upper garment (or dress). ``fit``: looseness multiplier of the ease; ``tucked``
    (t-shirts, shirts, sweaters), ``hood`` (sweaters, jackets), ``open`` and ``inner`` (colour of
    the shirt under an open jacket or coat) only where they apply."""

    type: str = field(metadata={"choices": TOPS})
    color: RGB
    color_name: str
    texture: TexturePlan
    fit: float
    sleeve: str = field(metadata={"choices": SLEEVES})
    tucked: bool | None = None
    hood: bool | None = None
    open: bool | None = None
    inner: RGB | None = None


@dataclass(frozen=True)
class BottomPlan:
    """Lower garment. ``length``: leg covered, fraction of the thigh (shorts) or of the shin
    (trousers, jeans); ``cuffs``: rolled up; ``belt``: the belt's colour."""

    type: str = field(metadata={"choices": BOTTOMS})
    color: RGB
    color_name: str
    texture: TexturePlan
    fit: float
    length: float | None = None
    cuffs: bool | None = None
    belt: RGB | None = None


@dataclass(frozen=True)
class ShoesPlan:
    type: str = field(metadata={"choices": SHOES})
    color: RGB
    color_name: str
    sole_color: RGB


@dataclass(frozen=True)
class HairPlan:
    """Hair style and colour; bald has no further field. ``part``: side of the parting's sweep
    (+1/-1), ``volume`` and ``length``: scales (x)."""

    style: str = field(metadata={"choices": HAIR})
    color: RGB
    color_name: str
    fringe: str | None = field(default=None, metadata={"choices": FRINGES})
    part: float | None = None
    volume: float | None = None
    length: float | None = None
    seed: int | None = None


@dataclass(frozen=True)
class FacialHairPlan:
    style: str = field(metadata={"choices": FACIAL_HAIR})
    color: RGB


@dataclass(frozen=True)
class BackpackPlan:
    color: RGB
    size: tuple[float, float, float]  # width, height, depth (m)


@dataclass(frozen=True)
class BagPlan:
    """A shoulder bag or handbag on one side; ``size``: width, height, depth (m)."""

    color: RGB
    side: str = field(metadata={"choices": SIDES})
    size: tuple[float, float, float]


@dataclass(frozen=True)
class HatPlan:
    color: RGB
    brim: float  # m


@dataclass(frozen=True)
class CapPlan:
    color: RGB
    backwards: bool


@dataclass(frozen=True)
class GlassesPlan:
    kind: str = field(metadata={"choices": GLASSES})
    color: RGB


@dataclass(frozen=True)
class AccessoriesPlan:
    """What the person carries or wears besides clothes; None = not worn."""

    backpack: BackpackPlan | None
    shoulder_bag: BagPlan | None
    handbag: BagPlan | None
    hat: HatPlan | None
    cap: CapPlan | None
    glasses: GlassesPlan | None

    def worn(self) -> list[tuple[str, object]]:
        """(name, plan) of the accessories worn, in ``spec.ACCESSORIES`` order."""
        return [(n, getattr(self, n)) for n in ACCESSORIES if getattr(self, n) is not None]


@dataclass(frozen=True)
class MeshRef:
    """A user's rigged character file: ``file`` relative to ``root`` (absolute ``people.meshes_dir``)."""

    file: str
    root: str


@dataclass(frozen=True)
class PersonPlan:
    """Everything sampled for one person; see the module doc for units.

    ``skin_tone``: 0 darkest .. 1 lightest; ``bottom`` is None under a dress, ``shoes`` None =
    barefoot; ``mesh``: the user character built instead of the procedural body (same height
    and motion), only with ``people.meshes_dir``.
    """

    sex: str = field(metadata={"choices": SEXES})
    age: float
    height: float
    mass: float
    bmi: float
    skin: RGB
    skin_tone: float
    body: BodyPlan
    gait: GaitPlan
    hands: str = field(metadata={"choices": HAND_POSES})
    top: TopPlan
    bottom: BottomPlan | None
    shoes: ShoesPlan | None
    hair: HairPlan
    facial_hair: FacialHairPlan | None
    accessories: AccessoriesPlan
    mesh: MeshRef | None = None

    def __post_init__(self):
        if not 0.5 < self.height < 2.6:
            raise PlanError(f"person.height: expected metres in (0.5, 2.6), got {self.height}")
