"""``CharacterPlan`` and ``ImagePlan``: every sampled parameter of a person and of one image.

A plan is made once (``render.plan``), stored as JSON (catalog rows, ``labels.jsonl``,
``meta/STEM.json``) and read back by whoever renders it, so an image can be rendered again
from its stored plan whatever the sampling code has become since. The JSON carries
``"schema": PLAN_SCHEMA``; rows of another schema are refused with a clear error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from synthreid.dataset import image_stem
from synthreid.render.model import codec
from synthreid.render.model.codec import PlanError
from synthreid.render.model.person import PersonPlan
from synthreid.render.model.scene import BackgroundCrop, BackgroundPlan, CameraPlan, LightPlan, PosePlan

# 1: the untyped dicts of synthreid <= 0.x (no "schema" key); 2: these dataclasses.
PLAN_SCHEMA = 2


def _check_schema(data: Any, where: str) -> dict:
    if not isinstance(data, dict):
        raise PlanError(f"{where}: expected a JSON object, got {type(data).__name__}")
    schema = data.get("schema", 1)
    if schema != PLAN_SCHEMA:
        raise PlanError(
            f"{where}: plan schema {schema!r}, but this synthreid reads plan schema {PLAN_SCHEMA} only "
            "(schema 1 = untyped rows written before typed plans): plan the dataset again "
            "(`synthreid plan` / `synthreid enqueue` under a new name) to render it with this version"
        )
    return {k: v for k, v in data.items() if k != "schema"}


@dataclass(frozen=True)
class CharacterPlan:
    """Person ``pid`` (0-based) and their surroundings, shared by all of their images."""

    pid: int
    person: PersonPlan
    background: BackgroundPlan

    @property
    def center_m(self) -> tuple[float, float, float]:
        """The point the cameras aim at: half the person's height above the floor (m)."""
        return (0.0, 0.0, round(0.5 * self.person.height, 6))

    def to_json(self) -> dict:
        return {"schema": PLAN_SCHEMA, **codec.to_json(self)}

    @classmethod
    def from_json(cls, data: Any, where: str = "character") -> CharacterPlan:
        return codec.from_json(cls, _check_schema(data, where), where)


@dataclass(frozen=True)
class ImagePlan:
    """Image ``index`` (0-based) of ``character``: camera, pose, light and, for photo
    backgrounds, the photo's window. ``stem`` names its files (``PPPPP_cC_NNNN``)."""

    pid: int
    index: int
    camid: int
    stem: str
    camera: CameraPlan
    pose: PosePlan
    light: LightPlan
    character: CharacterPlan
    background_crop: BackgroundCrop | None = None

    def __post_init__(self):
        if self.pid != self.character.pid:
            raise PlanError(f"image {self.stem}: pid {self.pid} but its character is {self.character.pid}")
        if self.camid != self.camera.camid or self.stem != image_stem(self.pid, self.camid, self.index):
            raise PlanError(
                f"image {self.stem}: stem, camid {self.camid} and camera.camid {self.camera.camid} disagree "
                f"(expected stem {image_stem(self.pid, self.camera.camid, self.index)})"
            )

    def to_json(self, character: bool = True) -> dict:
        """The plan as JSON; ``character=False`` leaves the character out (the catalog keeps it
        once per person)."""
        return {"schema": PLAN_SCHEMA, **codec.to_json(self, () if character else ("character",))}

    @classmethod
    def from_json(cls, data: Any, character: CharacterPlan | None = None, where: str = "image") -> ImagePlan:
        """The plan from ``to_json``'s output (or from a label row, whose other keys are ignored);
        ``character`` when the JSON was written without it."""
        data = _check_schema(data, where)
        fields = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in fields}
        if character is not None:
            return codec.from_json(cls, data, where, character=character)
        return codec.from_json(cls, data, where)
