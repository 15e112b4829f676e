"""PETA-like attribute families of a person, from a planned character or from PETA labels.

A family is a categorical variable (``FAMILIES`` lists each one's categories in order). Each
person gives a family a dict {category: weight} with weights summing to 1: a person with k
categories of a family (PETA: a black-and-white shirt, a backpack and a messenger bag) counts
1/k to each; a person with none gives the family nothing (unlabelled), except ``bags`` and
``hat`` where no label means "none". The same rules apply to both sides.

Our people (``model.person.PersonPlan``) map as follows:

- upper_colour: the top's colour; lower_colour: the bottom's colour, or the dress's colour
  (colour names from ``render.colournames``; outer garment only, patterns' second colours ignored);
- upper_type: tshirt -> tshirt; jacket, coat -> jacket_suit; sweater -> sweater;
  longsleeve, dress -> other;
- lower_type: trousers -> trousers; jeans -> jeans; shorts -> shorts; skirt_* and dress -> skirt_dress;
- sleeves: long, three_quarter -> long; short -> short; none -> none;
- age in whole years: < 16, 16-30, 31-45, 46-60, > 60 (PETA's bands);
- hair: bald -> bald; short, medium (to the jaw) -> short; long, ponytail, bun -> long;
- bags: backpack -> backpack; shoulder_bag -> shoulder_bag; handbag -> other; none -> none;
- hat: a hat or a cap -> hat.

PETA labels map: upperBody{Tshirt; Jacket, Suit; Sweater; Other}; lowerBody{Trousers, Suits,
Capri -> trousers; Jeans; Shorts, HotPants -> shorts; ShortSkirt, LongSkirt -> skirt_dress};
upperBody{Long,Short,No}Sleeve; personal{Female,Male}; personal{Less15, Less30, Less45,
Less60, Larger60}; hair{Short, Long, Bald}; carrying{Backpack; MessengerBag; PlasticBags,
Other, LuggageCase, Suitcase, Folder, BabyBuggy, Umbrella, ShoppingTro -> other; Nothing or
no carrying label -> none}; accessoryHat.
"""

from __future__ import annotations

from synthreid.render.colournames import COLOUR_NAMES, linear_colour_name
from synthreid.render.model.person import PersonPlan

FAMILIES: dict[str, tuple[str, ...]] = {
    "upper_colour": COLOUR_NAMES,
    "lower_colour": COLOUR_NAMES,
    "upper_type": ("tshirt", "jacket_suit", "sweater", "other"),
    "lower_type": ("trousers", "jeans", "shorts", "skirt_dress"),
    "sleeves": ("long", "short", "none"),
    "sex": ("female", "male"),
    "age": ("<16", "16-30", "31-45", "46-60", ">60"),
    "hair": ("short", "long", "bald"),
    "bags": ("backpack", "shoulder_bag", "other", "none"),
    "hat": ("hat", "none"),
}
COLOUR_FAMILIES = ("upper_colour", "lower_colour")
AGE_EDGES = (16, 31, 46, 61)  # first whole year of each band after the first

UPPER_TYPE = {
    "tshirt": "tshirt",
    "jacket": "jacket_suit",
    "coat": "jacket_suit",
    "sweater": "sweater",
    "longsleeve": "other",
    "dress": "other",
}
LOWER_TYPE = {
    "trousers": "trousers",
    "jeans": "jeans",
    "shorts": "shorts",
    "skirt_short": "skirt_dress",
    "skirt_knee": "skirt_dress",
    "skirt_long": "skirt_dress",
}
SLEEVE = {"long": "long", "three_quarter": "long", "short": "short", "none": "none"}
HAIR = {
    "bald": "bald",
    "short": "short",
    "medium": "short",
    "long": "long",
    "ponytail": "long",
    "bun": "long",
}

PETA_LABELS: dict[str, dict[str, str]] = {
    "upper_colour": {f"upperBody{n}": n for n in COLOUR_NAMES},
    "lower_colour": {f"lowerBody{n}": n for n in COLOUR_NAMES},
    "upper_type": {
        "upperBodyTshirt": "tshirt",
        "upperBodyJacket": "jacket_suit",
        "upperBodySuit": "jacket_suit",
        "upperBodySweater": "sweater",
        "upperBodyOther": "other",
    },
    "lower_type": {
        "lowerBodyTrousers": "trousers",
        "lowerBodySuits": "trousers",
        "lowerBodyCapri": "trousers",
        "lowerBodyJeans": "jeans",
        "lowerBodyShorts": "shorts",
        "lowerBodyHotPants": "shorts",
        "lowerBodyShortSkirt": "skirt_dress",
        "lowerBodyLongSkirt": "skirt_dress",
    },
    "sleeves": {"upperBodyLongSleeve": "long", "upperBodyShortSleeve": "short", "upperBodyNoSleeve": "none"},
    "sex": {"personalFemale": "female", "personalMale": "male"},
    "age": {
        "personalLess15": "<16",
        "personalLess30": "16-30",
        "personalLess45": "31-45",
        "personalLess60": "46-60",
        "personalLarger60": ">60",
    },
    "hair": {"hairShort": "short", "hairLong": "long", "hairBald": "bald"},
    "bags": {
        "carryingBackpack": "backpack",
        "carryingMessengerBag": "shoulder_bag",
        **{
            f"carrying{k}": "other"
            for k in (
                "PlasticBags",
                "Other",
                "LuggageCase",
                "Suitcase",
                "Folder",
                "BabyBuggy",
                "Umbrella",
                "ShoppingTro",
            )
        },
    },
    "hat": {"accessoryHat": "hat"},
}
DEFAULT_NONE = ("bags", "hat")  # families where no label means the category "none"


def _split(categories) -> dict[str, float]:
    cats = sorted(set(categories))
    return {c: 1.0 / len(cats) for c in cats} if cats else {}


def age_band(age: float) -> str:
    """PETA's age band of an age in years (whole years: 30.9 is 30, in '16-30')."""
    years = int(age)
    for edge, band in zip(AGE_EDGES, FAMILIES["age"][:-1], strict=True):
        if years < edge:
            return band
    return FAMILIES["age"][-1]


def peta_families(labels) -> dict[str, dict[str, float]]:
    """{family: {category: weight}} of one PETA person (a set of label names); see module doc."""
    labels = set(labels)
    out = {}
    for family, table in PETA_LABELS.items():
        cats = [table[t] for t in labels if t in table]
        if not cats and family in DEFAULT_NONE:
            cats = ["none"]
        if cats:
            out[family] = _split(cats)
    return out


def character_families(person: PersonPlan) -> dict[str, dict[str, float]]:
    """{family: {category: weight}} of one planned person."""
    top, bottom = person.top, person.bottom
    out = {
        "upper_colour": {linear_colour_name(top.color): 1.0},
        "lower_colour": {linear_colour_name((bottom or top).color): 1.0},
        "upper_type": {UPPER_TYPE[top.type]: 1.0},
        "lower_type": {LOWER_TYPE[bottom.type] if bottom else "skirt_dress": 1.0},
        "sleeves": {SLEEVE[top.sleeve]: 1.0},
        "sex": {person.sex: 1.0},
        "age": {age_band(person.age): 1.0},
        "hair": {HAIR[person.hair.style]: 1.0},
    }
    acc = person.accessories
    bags = [
        c
        for k, c in (("backpack", "backpack"), ("shoulder_bag", "shoulder_bag"), ("handbag", "other"))
        if getattr(acc, k) is not None
    ]
    out["bags"] = _split(bags or ["none"])
    out["hat"] = {"hat" if acc.hat or acc.cap else "none": 1.0}
    return out
