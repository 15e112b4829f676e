"""The plan of a dataset as typed, frozen values with a strict, versioned JSON form.

``plan``: ``CharacterPlan``, ``ImagePlan``, ``PLAN_SCHEMA``; ``person``: the person's parts;
``scene``: camera, light, background, pose; ``codec``: the JSON codec and ``PlanError``.
"""

from synthreid.render.model.codec import PlanError
from synthreid.render.model.plan import PLAN_SCHEMA, CharacterPlan, ImagePlan

__all__ = ["PLAN_SCHEMA", "CharacterPlan", "ImagePlan", "PlanError"]
