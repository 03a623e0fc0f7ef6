"""Colours measured from the pixels and named from a fixed table.

A colour is a fact only where the pixels tie it to something: the page background (the picture's
border), the box a line of text sits on, the swatch beside a legend entry, the ink of a line of
text. Whole-picture tones of a photograph are not given to the writer: a small model attaches them
to whatever the caption names ("a green shirt"), and nothing could check that.
"""

from __future__ import annotations

import colorsys
from collections import Counter
from collections.abc import Sequence
from typing import Any

# The names, in English and Chinese. Decided from hue, saturation and value (below), not from the
# nearest of a few reference colours, so that a pale blue is still blue and a dark orange brown.
NAMES = ("black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown")
CHINESE = {
    "black": "黑色", "white": "白色", "grey": "灰色", "red": "红色", "orange": "橙色", "yellow": "黄色",
    "green": "绿色", "blue": "蓝色", "purple": "紫色", "pink": "粉色", "brown": "棕色",
}


def name(rgb: Sequence[float]) -> str:
    """The table's name for one colour (0-255 channels)."""
    r, g, b = (max(0.0, min(255.0, float(c))) / 255 for c in rgb[:3])
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    hue = h * 360
    if v < 0.2:
        return "black"
    if s < 0.15 or (s < 0.25 and v < 0.5):
        return "white" if v > 0.9 else "grey" if v > 0.25 else "black"
    if (hue < 45 or hue >= 330) and v < 0.55 and s > 0.3:
        return "brown" if hue < 45 else "red"
    if hue < 15 or hue >= 345:
        return "pink" if s < 0.45 and v > 0.8 else "red"
    if hue < 40:
        return "orange"
    if hue < 68:
        return "yellow"
    if hue < 165:
        return "green"
    if hue < 255:
        return "blue"
    if hue < 290:
        return "purple"
    return "pink"


def dominant(pixels: Any, minimum: float = 0.0) -> list[tuple[str, float]]:
    """Named colours of an RGB array (h, w, 3) with their shares, largest first."""
    import numpy as np

    flat = np.asarray(pixels, dtype=np.uint8).reshape(-1, 3)
    if not len(flat):
        return []
    # Quantised to 16 levels a channel, so anti-aliasing and JPEG noise fall into one bin.
    bins = Counter(map(tuple, (flat // 16).tolist()))
    shares: Counter[str] = Counter()
    for (r, g, b), count in bins.items():
        shares[name((r * 16 + 8, g * 16 + 8, b * 16 + 8))] += count
    total = len(flat)
    return [(n, c / total) for n, c in shares.most_common() if c / total >= minimum]


def border(pixels: Any) -> tuple[str, float]:
    """The colour of the picture's outer edge and its share of the edge: the page background
    when one colour holds most of it."""
    import numpy as np

    a = np.asarray(pixels)
    edge = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    found = dominant(edge)
    return found[0] if found else ("", 0.0)
