"""Visible text: the lines an OCR engine reads in the picture, each with its box and confidence.

The engine is RapidOCR (``rapidocr-onnxruntime``, the ``ocr`` extra): PP-OCRv4 detection and
recognition models in ONNX, Apache-2.0, shipped inside the wheel, so it reads Chinese and English
offline on a CPU with nothing to download. It is imported only when a picture is read.

- The boxes are kept: they are the only true source for "left to right, top to bottom" and for
  where on the picture a piece of text stands.
- PP-OCR's recogniser often drops the space between English words ("Signin toyouraccount"). The
  gaps are put back from the pixels: a column gap inside a line's box that is wider than the
  line's usual letter gap, between two letters or digits, is a space.
- Lines under ``MIN_SCORE`` are dropped; at most ``MAX_LINES`` are kept, the largest text first.
- Detection runs first, and recognition only on the boxes it finds: a picture in which it finds
  none (45 of the 80 COCO photos of the quality benchmark) never reaches recognition.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import Any

from alttext import messages

MIN_SCORE = 0.6
MAX_LINES = 40
# Pictures are read at most this large; loading already shrinks them to 1024 px.
MAX_SIDE = 1600


class OCRUnavailable(Exception):
    """The OCR engine cannot be imported or loaded; the message names the extra to install."""


@dataclass(frozen=True)
class TextLine:
    text: str
    box: tuple[float, float, float, float]  # left, top, right, bottom, as fractions of the picture
    score: float

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


@cache
def engine_version() -> str:
    """Which engine and models read the text (part of the cache key)."""
    try:
        return f"rapidocr-onnxruntime {metadata.version('rapidocr-onnxruntime')}"
    except metadata.PackageNotFoundError:
        return "none"


@cache
def available() -> bool:
    """Whether the engine is installed (found, not imported: a warm, cached run never loads it)."""
    return importlib.util.find_spec("rapidocr_onnxruntime") is not None


class Reader:
    """Loads the engine on first use and keeps it."""

    def __init__(self) -> None:
        self._engine: Any = None

    def load(self) -> None:
        if self._engine is not None:
            return
        try:
            from rapidocr_onnxruntime import RapidOCR

            self._engine = RapidOCR()
        except ImportError as exc:
            raise OCRUnavailable(messages.OCR_MISSING.format(module=exc.name or "rapidocr_onnxruntime")) from None
        except Exception as exc:  # a model file or native library that does not load
            raise OCRUnavailable(messages.OCR_BROKEN.format(reason=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)) from None

    def read(self, image: Any) -> list[TextLine]:
        """The text lines of a PIL RGB picture, top to bottom and left to right."""
        self.load()
        if min(image.size) < 8:
            return []
        picture = image
        if max(image.size) > MAX_SIDE:
            picture = image.copy()
            picture.thumbnail((MAX_SIDE, MAX_SIDE))
        result, _ = self._engine(picture, use_cls=False, return_word_box=True)
        if not result:
            return []
        import numpy as np

        grey = np.asarray(picture.convert("L"), dtype=np.int16)
        width, height = picture.size
        lines = []
        for box, text, score, *words in result:
            if score < MIN_SCORE or not re.search(r"[^\W_]", text):  # no letter or digit: a shape read as a symbol
                continue
            xs, ys = [p[0] for p in box], [p[1] for p in box]
            left, top, right, bottom = max(0, min(xs)), max(0, min(ys)), min(width, max(xs)), min(height, max(ys))
            if words and len(words) >= 2 and len(words[1]) == len(words[0]):
                text = respace(grey, (left, top, right, bottom), words[0], words[1])
            lines.append(TextLine(" ".join(text.split()), (left / width, top / height, right / width, bottom / height), float(score)))
        lines.sort(key=lambda line: line.height, reverse=True)
        return reading_order(lines[:MAX_LINES])


def respace(grey: Any, box: tuple[float, float, float, float], char_boxes: list[Any], chars: list[str]) -> str:
    """The characters of one line with a space wherever the pixels show a word gap between two
    letters or digits that the recogniser ran together."""
    import numpy as np

    left, top, right, bottom = (int(round(v)) for v in box)
    crop = grey[top:bottom, left:right]
    if crop.size == 0 or crop.shape[0] < 4:
        return "".join(chars)
    edge = np.concatenate([crop[0], crop[-1], crop[:, 0], crop[:, -1]])
    ink = (np.abs(crop - np.median(edge)) > 40).any(axis=0)
    gaps: list[tuple[int, int, int]] = []  # (width, start, end) of each blank run between ink
    run = 0
    for x, inked in enumerate(ink):
        if not inked:
            run += 1
            continue
        if run and x - run > 0:
            gaps.append((run, left + x - run, left + x))
        run = 0
    if not gaps:
        return "".join(chars)
    usual = float(np.median([g[0] for g in gaps]))
    wide = [(start + end) / 2 for size, start, end in gaps if size >= max(3, 0.17 * (bottom - top), 2.5 * usual)]
    centres = [(b[0][0] + b[1][0]) / 2 for b in char_boxes]
    out: list[str] = []
    for k, char in enumerate(chars):
        if k and char.isalnum() and out and out[-1].isalnum() and any(centres[k - 1] < gap < centres[k] for gap in wide):
            out.append(" ")
        out.append(char)
    return "".join(out)


def reading_order(lines: list[TextLine]) -> list[TextLine]:
    """Rows top to bottom (lines whose middles lie within half a line of each other share a row),
    each row left to right."""
    rows: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda t: (t.box[1] + t.box[3]) / 2):
        middle = (line.box[1] + line.box[3]) / 2
        if rows:
            last = rows[-1][-1]
            if abs(middle - (last.box[1] + last.box[3]) / 2) < 0.5 * max(line.height, last.height):
                rows[-1].append(line)
                continue
        rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda t: t.box[0])]


def place(box: tuple[float, float, float, float]) -> str:
    """Where a box stands on the picture, on a three-by-three grid: ``top left`` … ``centre`` …"""
    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    row = "top" if y < 1 / 3 else "bottom" if y > 2 / 3 else ""
    column = "left" if x < 1 / 3 else "right" if x > 2 / 3 else ""
    return " ".join(p for p in (row, column) if p) or "centre"
