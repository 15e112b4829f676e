"""Fit appearance probabilities of a spec to real attribute labels (PETA format), pure numpy.

``fit_appearance(people)`` turns PETA label sets into the opt-in spec fields (people.age_weights,
people.female_fraction, appearance.*_colors / *_weights / shirt_sleeves and bag and hat rates)
such that the characters planned with them have, in expectation, the real people's
distribution of every family of ``render.attributes`` (colours by the one mapping of
``render.colournames``). Where PETA cannot tell, fixed assumptions fill in (module constants):
the share of dresses among skirts and dresses, jackets vs coats, hats vs caps, and the split of
short vs medium and of long vs ponytail vs bun hair (the built-in catalogue's ratios).
Garments are fitted per sex (PETA's conditional frequencies); men get no skirts or dresses.
``scripts/fit-appearance.py`` writes the result as a preset and the target frequencies as JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from synthreid.errors import DatasetError
from synthreid.render.attributes import FAMILIES, peta_families
from synthreid.render.colournames import COLOUR_NAMES
from synthreid.render.sampling.palettes import load_json
from synthreid.render.spec import BOTTOMS, HAIR, TOPS
from synthreid.render.stats import Distributions, accumulate

DRESS_SHARE = 0.4  # of the people in skirts or dresses, the share in dresses (PETA labels both as skirts)
COAT_SHARE = 0.3  # of jackets and suits, the share drawn as long coats
CAP_SHARE = 0.6  # of hats, the share of caps
DRESS_SLEEVES = {"long": 0.2, "short": 0.4, "none": 0.4}  # catalog.json's dress_sleeves
AGE_RANGE = (12.0, 80.0)


def _dist(people, family: str, where=None) -> np.ndarray:
    """Normalised distribution of ``family`` over the people matching ``where`` (fractional counts)."""
    cats = FAMILIES[family]
    c = np.zeros(len(cats))
    for fams in people:
        if where is not None and not where(fams):
            continue
        for k, w in fams.get(family, {}).items():
            c[cats.index(k)] += w
    if c.sum() <= 0:
        raise DatasetError(
            f"PETA labels: no person with a '{family}' label"
            + (" in the subgroup" if where else "")
            + " to fit from"
        )
    return c / c.sum()


def _sex(s):
    return lambda f: f.get("sex", {}).get(s, 0.0) == 1.0


def _norm(x) -> np.ndarray:
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, None)
    return x / x.sum()


def _bag_model(p: np.ndarray) -> np.ndarray:
    """Fractional (backpack, shoulder_bag, other, none) distribution of three independent bag draws."""
    out = np.zeros(4)
    for mask in range(8):
        have = [bool(mask >> i & 1) for i in range(3)]
        prob = float(np.prod([p[i] if have[i] else 1 - p[i] for i in range(3)]))
        k = sum(have)
        if k == 0:
            out[3] += prob
        for i in range(3):
            if have[i]:
                out[i] += prob / k
    return out


def _fit_bags(target: np.ndarray) -> np.ndarray:
    """Independent probabilities of backpack, shoulder bag, handbag giving ``target`` (4 categories)."""
    p = np.clip(target[:3], 1e-6, 0.99)
    for _ in range(500):
        p = np.clip(p * target[:3] / np.maximum(_bag_model(p)[:3], 1e-9), 0.0, 0.99)
    return p


@dataclass(frozen=True)
class FittedAppearance:
    """Spec fields (``people`` and ``appearance`` tables) and the target family distributions."""

    people: dict
    appearance: dict
    targets: Distributions


def fit_appearance(labels: Sequence[frozenset[str]], source: str = "PETA") -> FittedAppearance:
    """Spec fields fitted to the PETA label sets ``labels`` (see module doc)."""
    people = [peta_families(p) for p in labels]
    if not people:
        raise DatasetError(f"{source}: no people to fit from")
    targets = accumulate(people, source)
    cat = load_json("catalog.json")
    female = float(_dist(people, "sex")[0])

    tops, bottoms, hair = {}, {}, {}
    dress = {}
    for sex in ("female", "male"):
        is_sex = _sex(sex)
        u = dict(zip(FAMILIES["upper_type"], _dist(people, "upper_type", is_sex), strict=True))
        low = dict(zip(FAMILIES["lower_type"], _dist(people, "lower_type", is_sex), strict=True))
        skirts = low["skirt_dress"] if sex == "female" else 0.0
        d = DRESS_SHARE * skirts
        dress[sex] = d
        tops[sex] = _norm(
            [
                u["tshirt"],
                max(u["other"] - d, 0.0),
                u["sweater"],
                (1 - COAT_SHARE) * u["jacket_suit"],
                COAT_SHARE * u["jacket_suit"],
                d,
            ]
        )
        # PETA's short vs long skirts; our knee-length skirts take half of the short ones
        short_sk = sum(1 for p in labels if "lowerBodyShortSkirt" in p)
        long_sk = sum(1 for p in labels if "lowerBodyLongSkirt" in p)
        frac_short = short_sk / (short_sk + long_sk) if short_sk + long_sk else 0.5
        rest = max(skirts - d, 0.0)
        bottoms[sex] = _norm(
            [
                low["trousers"],
                low["jeans"],
                low["shorts"],
                rest * frac_short / 2,
                rest * frac_short / 2,
                rest * (1 - frac_short),
            ]
        )
        h = dict(zip(FAMILIES["hair"], _dist(people, "hair", is_sex), strict=True))
        cw = cat["hair"][sex]
        short_total = cw["short"] + cw["medium"]
        long_total = cw["long"] + cw["ponytail"] + cw["bun"]
        hair[sex] = _norm(
            [
                h["bald"],
                h["short"] * cw["short"] / short_total,
                h["short"] * cw["medium"] / short_total,
                h["long"] * cw["long"] / long_total,
                h["long"] * cw["ponytail"] / long_total,
                h["long"] * cw["bun"] / long_total,
            ]
        )

    mix = {"female": female, "male": 1.0 - female}
    top_share = np.sum([mix[s] * np.asarray(tops[s]) for s in mix], axis=0)  # overall shares in TOPS order
    t, shirt, d = (
        top_share[TOPS.index("tshirt")],
        top_share[TOPS.index("longsleeve")],
        top_share[TOPS.index("dress")],
    )
    sl = dict(zip(FAMILIES["sleeves"], _dist(people, "sleeves"), strict=True))
    w_short = np.clip((sl["short"] - t - DRESS_SLEEVES["short"] * d) / max(shirt, 1e-9), 0.0, 1.0)
    w_none = np.clip((sl["none"] - DRESS_SLEEVES["none"] * d) / max(shirt, 1e-9), 0.0, 1.0 - w_short)
    shirt_sleeves = [1.0 - w_short - w_none, w_short, w_none]

    # colours: tops (and dresses) as the real upper colours; jeans as real jeans; other bottoms
    # such that the mix of jeans, other bottoms and dresses gives the real lower colours
    top_colors = _dist(people, "upper_colour")
    jeans_colors = _dist(people, "lower_colour", lambda f: "jeans" in f.get("lower_type", {}))
    lower = _dist(people, "lower_colour")
    d_all = float(top_share[TOPS.index("dress")])
    bottom_share = np.sum([mix[s] * np.asarray(bottoms[s]) for s in mix], axis=0)
    j = float(bottom_share[BOTTOMS.index("jeans")])
    other = (1 - d_all) * (1 - j)
    bottom_colors = _norm((lower - d_all * top_colors - (1 - d_all) * j * jeans_colors) / max(other, 1e-9))

    bags = _fit_bags(_dist(people, "bags"))
    hat = float(_dist(people, "hat")[0])

    def r(x):
        return [round(float(v), 4) for v in x]

    ppl = {
        "female_fraction": round(female, 4),
        "age": list(AGE_RANGE),
        "age_weights": r(_dist(people, "age")),
    }
    app = {
        "palette": "fitted",
        "top_colors": r(top_colors),
        "bottom_colors": r(bottom_colors),
        "jeans_colors": r(jeans_colors),
        "top_weights_female": r(tops["female"]),
        "top_weights_male": r(tops["male"]),
        "bottom_weights_female": r(bottoms["female"]),
        "bottom_weights_male": r(bottoms["male"]),
        "hair_weights_female": r(hair["female"]),
        "hair_weights_male": r(hair["male"]),
        "shirt_sleeves": r(shirt_sleeves),
        "backpack": round(float(bags[0]), 4),
        "shoulder_bag": round(float(bags[1]), 4),
        "handbag": round(float(bags[2]), 4),
        "hat": round(hat * (1 - CAP_SHARE), 4),
        "cap": round(hat * CAP_SHARE, 4),
    }
    return FittedAppearance(ppl, app, targets)


def _toml_value(v) -> str:
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v)


def toml_tables(fit: FittedAppearance) -> str:
    """The fitted fields as TOML ``[people]`` and ``[appearance]`` key lines (with order comments)."""
    notes = {
        "age_weights": "<16, 16-30, 31-45, 46-60, >60 years",
        "top_colors": ", ".join(COLOUR_NAMES),
        "top_weights_female": ", ".join(TOPS),
        "bottom_weights_female": ", ".join(BOTTOMS),
        "hair_weights_female": ", ".join(HAIR),
        "shirt_sleeves": "long, short, none",
    }
    out = []
    for table, fields in (("people", fit.people), ("appearance", fit.appearance)):
        out.append(f"[{table}]")
        for k, v in fields.items():
            if k in notes:
                out.append(f"# {k}: {notes[k]}")
            out.append(f"{k} = {_toml_value(v)}")
        out.append("")
    return "\n".join(out)


def targets_json(fit: FittedAppearance) -> dict:
    """The target family distributions (aggregate frequencies only) as JSON."""
    return {
        "_doc": "Aggregate attribute frequencies the 'real' preset is fitted to (per family: people "
        "with a label, and the share of each category; families of synthreid.render.attributes). "
        "Written by scripts/fit-appearance.py; no per-person labels.",
        "source": fit.targets.label,
        **fit.targets.to_dict()["families"],
    }
