"""The one mapping of colours to PETA's eleven colour names (pure numpy).

Used for planned garment colours, for the pixels of rendered crops (inside the mask) and for
the pixels of real crops, so that every colour statistic of ``synthreid stats`` and the
``fitted`` palette speak the same eleven names.

Input is sRGB in [0, 1] (``name_indices`` takes any ``(..., 3)`` array, uint8 0-255 or float).
With V = max(R, G, B), C = V - min(R, G, B) (chroma), S = C / V and the HSV hue H in degrees:

1. V < 0.18, or V < 0.35 with C < 0.16 -> Black (dark colours need more chroma to look
   coloured: dark clothes with a colour cast, or navy, are called black, as annotators do).
2. Achromatic (C < 0.10 or S < 0.22): V < 0.35 -> Black, V < 0.80 -> Grey, else White.
3. Chromatic, by hue:

   - H >= 345 or H < 15: Pink if S < 0.5 and V > 0.7 (pastel red), else Red;
   - 15 <= H < 48: Orange if S >= 0.6 and V >= 0.65, else Brown (tan, beige, khaki, brown);
   - 48 <= H < 70: Yellow if S >= 0.4 and V >= 0.6; Green if V < 0.6 (olive); else Brown;
   - 70 <= H < 170: Green;  170 <= H < 255: Blue;  255 <= H < 290: Purple;
   - 290 <= H < 345: Pink if V >= 0.6, else Purple.

``PROTOTYPES`` are typical clothing colours of each name (sRGB hex); each maps to its own name
(unit-tested), and the ``fitted`` palette draws around them.
"""

from __future__ import annotations

import numpy as np

# PETA's order (alphabetical), the order of every colour weight tuple in a spec.
COLOUR_NAMES = (
    "Black",
    "Blue",
    "Brown",
    "Green",
    "Grey",
    "Orange",
    "Pink",
    "Purple",
    "Red",
    "White",
    "Yellow",
)
_INDEX = {n: i for i, n in enumerate(COLOUR_NAMES)}
BLACK, BLUE, BROWN, GREEN, GREY, ORANGE, PINK, PURPLE, RED, WHITE, YELLOW = range(11)

PROTOTYPES: dict[str, tuple[str, ...]] = {
    "Black": ("#1c1c1e", "#222326", "#2a2a2e", "#3a3b3f", "#1f2a44"),
    "Blue": ("#2b3a5e", "#4a6384", "#8ea6c2", "#2f4f9f", "#6c9bd2"),
    "Brown": ("#5e4330", "#cbb995", "#a89a6e", "#a0785a", "#7b5a3c"),
    "Green": ("#5b5e3a", "#2f5a3a", "#3b6e4a", "#6b8e5a"),
    "Grey": ("#5c5d61", "#7d7f83", "#9a9a98", "#b9bbbe"),
    "Orange": ("#e07b28", "#f0a050", "#d9661f"),
    "Pink": ("#e89ab0", "#f4b6c2", "#d45d87"),
    "Purple": ("#5b3a78", "#7a4f9a", "#3f2a55"),
    "Red": ("#b22222", "#641f2a", "#d03a3a", "#8b1e1e"),
    "White": ("#ececea", "#f5f5f0", "#dcdcd8"),
    "Yellow": ("#f0d040", "#e6d35a", "#f5e27a"),
}


def colour_index(name: str) -> int:
    """Position of a PETA colour name in ``COLOUR_NAMES`` (case-insensitive), or ValueError."""
    for n, i in _INDEX.items():
        if n.lower() == str(name).lower():
            return i
    raise ValueError(f"{name!r} is not one of PETA's colour names: {', '.join(COLOUR_NAMES)}")


def _as_unit(rgb) -> np.ndarray:
    a = np.asarray(rgb)
    if a.shape[-1:] != (3,):
        raise ValueError(f"expected colours as an (..., 3) array, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    return np.clip(a.astype(np.float32), 0.0, 1.0)


def name_indices(srgb) -> np.ndarray:
    """Index into ``COLOUR_NAMES`` of each sRGB colour of an ``(..., 3)`` array (see module doc)."""
    c = _as_unit(srgb)
    r, g, b = c[..., 0], c[..., 1], c[..., 2]
    v = c.max(axis=-1)
    chroma = v - c.min(axis=-1)
    s = np.where(v > 0, chroma / np.maximum(v, 1e-6), 0.0)
    safe = np.maximum(chroma, 1e-6)
    hue = (
        np.where(v == r, ((g - b) / safe) % 6.0, np.where(v == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
        * 60.0
    )
    out = np.full(v.shape, GREY, dtype=np.int8)
    # chromatic colours by hue band
    red_band = (hue >= 345) | (hue < 15)
    out = np.where(red_band, np.where((s < 0.5) & (v > 0.7), PINK, RED), out)
    orange_band = (hue >= 15) & (hue < 48)
    out = np.where(orange_band, np.where((s >= 0.6) & (v >= 0.65), ORANGE, BROWN), out)
    yellow_band = (hue >= 48) & (hue < 70)
    out = np.where(
        yellow_band, np.where((s >= 0.4) & (v >= 0.6), YELLOW, np.where(v < 0.6, GREEN, BROWN)), out
    )
    out = np.where((hue >= 70) & (hue < 170), GREEN, out)
    out = np.where((hue >= 170) & (hue < 255), BLUE, out)
    out = np.where((hue >= 255) & (hue < 290), PURPLE, out)
    out = np.where((hue >= 290) & (hue < 345), np.where(v >= 0.6, PINK, PURPLE), out)
    # achromatic and very dark colours override the hue
    achromatic = (chroma < 0.10) | (s < 0.22)
    out = np.where(achromatic, np.where(v < 0.35, BLACK, np.where(v < 0.80, GREY, WHITE)), out)
    out = np.where((v < 0.18) | ((v < 0.35) & (chroma < 0.16)), BLACK, out)
    return out.astype(np.int8)


def colour_name(srgb) -> str:
    """PETA colour name of one sRGB colour (three values in [0, 1], or uint8)."""
    return COLOUR_NAMES[int(name_indices(np.asarray(srgb).reshape(1, 3))[0])]


def linear_colour_name(linear_rgb) -> str:
    """PETA colour name of one linear-RGB colour (what the planned garments store)."""
    c = np.clip(np.asarray(linear_rgb, dtype=np.float64), 0.0, 1.0)
    srgb = np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)
    return colour_name(srgb)
