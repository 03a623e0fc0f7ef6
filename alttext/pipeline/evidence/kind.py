"""What kind of image this is, from its pixels, the text in it, its file name and its page.

Each kind gets its own strategy from the W3C alt decision tree (the prompt's examples follow it):

- ``text``: an image of text carries its text;
- ``screenshot`` (a user interface), ``chart``, ``diagram``: what it is, its title and main text;
  a chart or diagram with more than an alt text can hold needs a long description;
- ``photo``: subject, scene and state;
- ``logo`` (or icon) and ``illustration``;
- ``decorative``: spacers, rules and tiny images. A candidate only: it is proposed as ``alt=""``
  for a person to confirm, never described, and never for the only content of a link.

The decision is a few readable rules over measured features, not a trained model, so every
verdict comes with its reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alttext.pipeline.evidence.ocr import TextLine

KINDS = ("photo", "screenshot", "chart", "diagram", "text", "logo", "illustration", "decorative")
VERSION = "kind/1"

NUMBER = re.compile(r"^[\s$€£¥+\-−]*\d[\d\s.,:%/]*[%kKmMbB]?$")
# Words in the file name or page context that name a kind.
_HINTS = (
    ("screenshot", re.compile(r"screen[\s_-]?shot|screen|\bui\b|dashboard|截图|界面", re.IGNORECASE)),
    ("chart", re.compile(r"chart|graph|plot|histogram|图表|柱状图|饼图|折线图", re.IGNORECASE)),
    ("diagram", re.compile(r"diagram|flow[\s_-]?chart|architecture|sequence|workflow|uml|流程图|架构图|示意图", re.IGNORECASE)),
    ("logo", re.compile(r"logo|icon|favicon|badge|标志|图标", re.IGNORECASE)),
)


@dataclass(frozen=True)
class Kind:
    name: str
    reason: str


@dataclass(frozen=True)
class Features:
    width: int  # the file's own size, before loading shrank it
    height: int
    alpha: bool  # some pixel is transparent
    flat: float  # share of the picture in its eight most common exact colours
    colours: int  # quantised colours that cover 95% of the picture
    text_cover: float  # share of the picture inside text boxes
    text_ink: float  # share of the non-background pixels that lie inside text boxes
    lines: int
    numbers: int  # lines that are only a number (axis ticks, values)
    swatches: int  # text lines with a small coloured square just before them (a legend)
    boxed: int  # text lines centred in a box of their own (diagram nodes, buttons)
    words: float  # mean words (or Chinese characters / 2) per line


def measure(image: Any, width: int, height: int, alpha: bool, lines: Sequence[TextLine]) -> Features:
    """Features of a PIL RGB picture (transparent pixels already laid on white)."""
    import numpy as np

    small = image.copy()
    small.thumbnail((256, 256))
    pixels = np.asarray(small, dtype=np.uint8).reshape(-1, 3)
    _, counts = np.unique(pixels, axis=0, return_counts=True)
    counts = np.sort(counts)[::-1]
    flat = float(counts[:8].sum() / counts.sum())
    _, quantised = np.unique(pixels // 16, axis=0, return_counts=True)
    quantised = np.sort(quantised)[::-1]
    colours = int((np.cumsum(quantised) < 0.95 * quantised.sum()).sum() + 1)

    full = np.asarray(image, dtype=np.int16)
    h, w = full.shape[:2]
    edge = np.concatenate([full[0], full[-1], full[:, 0], full[:, -1]])
    background = np.median(edge, axis=0)
    ink = np.abs(full - background).sum(axis=2) > 60
    inside = np.zeros(ink.shape, dtype=bool)
    for line in lines:
        x0, y0, x1, y1 = box_pixels(line.box, w, h)
        inside[y0:y1, x0:x1] = True
    total_ink = int(ink.sum())
    text_ink = float((ink & inside).sum() / total_ink) if total_ink else 0.0
    words = [max(len(t.text.split()), len(re.findall(r"[\u3400-\u9fff]", t.text)) / 2) for t in lines]
    return Features(
        width=width, height=height, alpha=alpha, flat=flat, colours=colours,
        text_cover=float(inside.mean()), text_ink=text_ink, lines=len(lines),
        numbers=sum(bool(NUMBER.match(t.text)) for t in lines),
        swatches=sum(swatch(full, t, background) is not None for t in lines),
        boxed=sum(boxed(full, t) for t in lines),
        words=float(sum(words) / len(words)) if words else 0.0,
    )


def box_pixels(box: tuple[float, float, float, float], w: int, h: int) -> tuple[int, int, int, int]:
    return (max(0, int(box[0] * w)), max(0, int(box[1] * h)), min(w, int(round(box[2] * w))), min(h, int(round(box[3] * h))))


def swatch(full: Any, line: TextLine, background: Any) -> Any:
    """The colour of a legend key just left of ``line``: a small flat square of a strong colour,
    about the height of the text, with page background between it and the text. None otherwise."""
    import numpy as np

    h, w = full.shape[:2]
    x0, y0, x1, y1 = box_pixels(line.box, w, h)
    size = y1 - y0
    if size < 6 or x0 < size:
        return None
    middle = (y0 + y1) // 2
    patch = full[max(0, middle - size // 4) : middle + size // 4 + 1, max(0, x0 - int(1.6 * size)) : max(0, x0 - 2)]
    if patch.size == 0:
        return None
    colour = np.median(patch.reshape(-1, 3), axis=0)
    if (np.abs(patch - colour).sum(axis=2) < 30).mean() <= 0.3 or float(colour.max() - colour.min()) <= 60:
        return None
    if float(np.abs(colour - background).sum()) <= 90:
        return None
    # Its extent through its middle, across and down: a key is about as tall as the text.
    columns = np.flatnonzero((np.abs(patch - colour).sum(axis=2) < 30).any(axis=0))
    cx = max(0, x0 - int(1.6 * size)) + int(columns.mean())
    down = np.abs(full[max(0, y0 - 2 * size) : min(h, y1 + 2 * size), cx] - colour).sum(axis=1) < 30
    row = np.abs(full[middle, max(0, x0 - 4 * size) : x0] - colour).sum(axis=1) < 30
    gap = full[y0:y1, max(0, x0 - max(2, size // 5)) : x0]
    clear = gap.size == 0 or float((np.abs(gap - background).sum(axis=2) < 45).mean()) > 0.8
    return colour if _span(down) <= 1.3 * size and _span(row) <= 1.5 * size and clear else None


def _span(found: Any) -> int:
    """From the first to the last True of a 1-D array (0 when there is none)."""
    import numpy as np

    at = np.flatnonzero(found)
    return int(at[-1] - at[0] + 1) if len(at) else 0


def boxed(full: Any, line: TextLine) -> bool:
    """Whether ``line`` stands in a box of its own (a diagram node, a button): close around the
    text, above, below, left and right, the colour around the text gives way to another."""
    import numpy as np

    h, w = full.shape[:2]
    x0, y0, x1, y1 = box_pixels(line.box, w, h)
    size = max(4, y1 - y0)
    ring = np.concatenate([full[max(0, y0 - 2) : y0, x0:x1].reshape(-1, 3), full[y1 : y1 + 2, x0:x1].reshape(-1, 3)])
    if not len(ring):
        return False
    local = np.median(ring, axis=0)
    reach_y, reach_x = int(1.4 * size), int(6 * size)
    bands = (
        (full[max(0, y0 - reach_y) : y0, x0:x1], 1),  # above: look for a row that differs all along
        (full[y1 : y1 + reach_y, x0:x1], 1),  # below
        (full[y0:y1, max(0, x0 - reach_x) : x0], 0),  # left: a column
        (full[y0:y1, x1 : x1 + reach_x], 0),  # right
    )
    for band, across in bands:
        if band.size == 0:
            return False
        off = np.abs(band - local).sum(axis=2) > 45
        if not off.all(axis=across).any():
            return False
    return True


def hint(*texts: str) -> str | None:
    """The kind that a file name or the words around the image name, if any."""
    for name, pattern in _HINTS:
        if any(pattern.search(t) for t in texts if t):
            return name
    return None


def classify(f: Features, hints: Sequence[str] = (), functional: bool = False) -> Kind:
    """The kind, with the reason. ``functional``: the image is the only content of a link or
    button, so it is never decorative."""
    named = hint(*hints)
    small_side, large_side = min(f.width, f.height), max(f.width, f.height)
    if not functional and f.lines == 0:
        if f.width * f.height <= 400:
            return Kind("decorative", f"a tiny image ({f.width}x{f.height})")
        if small_side <= 8:
            return Kind("decorative", f"a thin strip ({f.width}x{f.height}), like a rule or spacer")
        if f.colours <= 1 and f.flat > 0.98:
            return Kind("decorative", "a single flat colour")
    if f.flat < 0.3:
        if named == "screenshot" and f.lines >= 3:
            return Kind("screenshot", "many colours, but named a screenshot, with text")
        return Kind("photo", f"{f.colours} colours with no large flat areas")
    if f.lines == 0:
        squarish = large_side <= 1.25 * small_side
        if f.alpha or named == "logo" or large_side <= 128 or (large_side <= 256 and squarish):
            return Kind("logo", "a small or transparent flat image without text")
        return Kind("illustration", "flat colours without text")
    if f.lines <= 2 and f.words <= 3 and (large_side <= 400 or f.alpha) and f.text_ink < 0.8:
        return Kind("logo", "a small or transparent image with a word or two beside a shape")
    tall = f.text_cover / f.lines >= 0.02 if f.lines else False  # large type, as on a banner
    if f.text_ink >= 0.8 and f.boxed < f.lines and (f.lines <= 2 or (f.lines <= 4 and tall)):
        return Kind("text", "almost everything drawn in it is text")
    if named in ("chart", "diagram", "screenshot") and f.lines >= 2:
        return Kind(named, f"flat colours with text, and named a {named}")
    if f.swatches >= 2 or (f.numbers >= 3 and f.numbers >= 0.25 * f.lines and f.boxed < f.lines / 3):
        return Kind("chart", "numbers along an axis or a colour legend")
    if f.lines >= 3 and f.words <= 3 and f.boxed > f.lines / 2:
        return Kind("diagram", "short labels, most in boxes of their own")
    return Kind("screenshot", "flat colours with text laid out in lines")
