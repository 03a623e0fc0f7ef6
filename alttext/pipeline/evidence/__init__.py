"""Visual evidence: everything the pixels and the file can truthfully tell about a picture.

A text model that sees one eight-word caption can only restate it or invent. So each picture gets
every true fact that can be measured, each from a small module and each keeping its source:

- ``ocr``: the visible text, line by line, with where each line stands;
- ``kind``: photo, screenshot, chart, diagram, image of text, logo, illustration, or a decorative
  candidate, with the reason;
- ``metadata``: the title or description an author wrote into the file;
- ``colours``: colours tied by the pixels to something (the background, the box a label sits on,
  a legend key);
- the captioner's captions and an SVG's own text, added by the pipeline.

``Evidence.facts()`` renders them for the prompt, as facts only (nothing that reads as an
instruction). ``Evidence.texts()`` is what the grounding guard accepts as support.
``compose()`` writes an alt text from the evidence alone, with no model at all.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alttext.pipeline.clean import scrub
from alttext.pipeline.evidence import colours as colour_names
from alttext.pipeline.evidence.kind import NUMBER, Features, Kind, box_pixels, boxed, classify, measure, swatch
from alttext.pipeline.evidence.ocr import TextLine, place

VERSION = "evidence/1"
PROMPT_LINES = 24  # visible text lines shown to the writer, the largest first
_CJK = re.compile(r"[\u3400-\u9fff]")

_KIND_WORDS = {
    "en": {"photo": "photograph", "screenshot": "screenshot of a user interface", "chart": "chart", "diagram": "diagram",
           "text": "image of text", "logo": "logo or icon", "illustration": "illustration", "decorative": "decorative image"},
    "zh": {"photo": "照片", "screenshot": "界面截图", "chart": "图表", "diagram": "示意图", "text": "文字图片",
           "logo": "标志或图标", "illustration": "插图", "decorative": "装饰图片"},
}
_PLACES_ZH = {"top left": "左上", "top": "上方", "top right": "右上", "left": "左侧", "centre": "中间", "right": "右侧",
              "bottom left": "左下", "bottom": "下方", "bottom right": "右下"}
_LABELS = {
    "en": {"kind": "Kind of image", "caption": "Caption", "more": "Another caption", "svg": "Text in the SVG file",
           "text": "Visible text, top to bottom", "title": "title", "background": "Background", "on": "{text} is on a {colour} box",
           "key": "{colour} key: {text}", "colours": "Main colours", "meta": "Written in the file ({field})",
           "none": "No text is visible"},
    "zh": {"kind": "图片类型", "caption": "图片说明", "more": "另一条说明", "svg": "SVG 文件中的文字",
           "text": "图中文字，从上到下", "title": "标题", "background": "背景", "on": "{text}在{colour}的框上",
           "key": "{colour}图例：{text}", "colours": "主要颜色", "meta": "文件中写明的（{field}）",
           "none": "图中没有文字"},
}


@dataclass(frozen=True)
class Evidence:
    """What is known about one picture. Every field is a fact from a named source."""

    kind: str = ""  # one of kind.KINDS; '' when nothing was measured (a caption alone)
    kind_reason: str = ""
    captions: tuple[str, ...] = ()  # the captioner's, first the plain one
    svg_text: tuple[str, ...] = ()  # an SVG's <title>, <desc> and <text>
    text: tuple[TextLine, ...] = ()  # visible text (OCR), in reading order
    read: bool = False  # OCR ran on the picture (so no text means none was found)
    metadata: tuple[tuple[str, str], ...] = ()  # (field, text) an author wrote into the file
    colours: tuple[tuple[str, str, str], ...] = ()  # (how, what, colour): background, on (a box), key, main

    @property
    def substantive(self) -> bool:
        """Whether anything says what the picture shows (a kind and colours alone do not)."""
        return bool(self.captions or self.svg_text or self.text or self.metadata)

    @property
    def caption(self) -> str:
        return self.captions[0] if self.captions else (self.svg_text[0] if self.svg_text else "")

    def facts(self, language: str) -> list[str]:
        """The lines between VISION_START and VISION_END: facts, never instructions."""
        labels, colon = _LABELS[language], "：" if language == "zh" else ": "
        out = []
        if self.kind and self.kind != "decorative":
            out.append(labels["kind"] + colon + _KIND_WORDS[language][self.kind])
        for k, caption in enumerate(self.captions):
            out.append(labels["caption" if k == 0 else "more"] + colon + caption)
        if self.svg_text:
            out.append(labels["svg"] + colon + "; ".join(self.svg_text))
        for field, value in self.metadata:
            out.append(labels["meta"].format(field=field) + colon + value)
        shown = prompt_lines(self.text)
        if shown:
            title = title_line(self.text)
            out.append(labels["text"] + colon.rstrip())
            for line in shown:
                where = place(line.box)
                where = _PLACES_ZH[where] if language == "zh" else where
                if line is title:
                    where = f"{labels['title']}，{where}" if language == "zh" else f"{labels['title']}, {where}"
                out.append(f"- {where}{colon}{_quote(line.text, language)}")
        elif self.read and self.kind not in ("photo", "decorative"):
            out.append(labels["none"])
        for how, what, colour in self.colours:
            name = colour_names.CHINESE.get(colour, colour) if language == "zh" else colour
            if how == "background":
                out.append(labels["background"] + colon + name)
            elif how == "main" and self.captions:
                continue  # a caption names the objects: whole-picture tones would be pinned on them
            elif how == "main":
                named = [colour_names.CHINESE[n] for n in what.split(", ")] if language == "zh" else what.split(", ")
                out.append(labels["colours"] + colon + ("、" if language == "zh" else ", ").join(named))
            else:
                out.append(labels[how].format(text=_quote(what, language), colour=name))
        return out

    def raw(self) -> list[str]:
        """The evidence as its sources gave it: captions, the SVG's text, visible text, metadata."""
        return [*self.captions, *self.svg_text, *(t.text for t in self.text), *(v for _, v in self.metadata)]

    def values(self, language: str) -> list[str]:
        """The facts without their labels ("界面截图", not "图片类型：界面截图"), and the evidence
        as its sources gave it: what an answer may repeat word for word."""
        return [*(fact_value(line) for line in self.facts(language)), *self.raw()]

    def texts(self, language: str) -> list[str]:
        """Everything that supports a word of the alt text: the facts as rendered, and raw."""
        return [*self.facts(language), *self.raw()]

    def size(self, language: str = "en") -> int:
        """How many characters of evidence there are to restate in ``language`` (the lower length
        bound follows it). Chinese says in one character what English says in about three."""

        def chars(text: str) -> int:
            chinese = len(_CJK.findall(text))
            return chinese + round((len(text) - chinese) / 3) if language == "zh" else len(text)

        pieces = [chars(c) for c in self.captions] + [chars(v) for _, v in self.metadata] + [sum(chars(s) for s in self.svg_text)]
        pieces.append(sum(chars(t.text) + 2 for t in prompt_lines(self.text)))
        return max(pieces, default=0)


def fact_value(line: str) -> str:
    """A fact line without its label: ``Caption: a dog`` -> ``a dog``; ``- top: "Email"`` -> ``"Email"``."""
    return re.split(r"[:：]\s*", line.strip().lstrip("- "), maxsplit=1)[-1]


def _quote(text: str, language: str) -> str:
    return f"“{text}”" if language == "zh" else f'"{text}"'


def prompt_lines(lines: Sequence[TextLine]) -> list[TextLine]:
    """The lines shown to the writer: the largest ``PROMPT_LINES``, in reading order."""
    if len(lines) <= PROMPT_LINES:
        return list(lines)
    keep = set(map(id, sorted(lines, key=lambda t: t.height, reverse=True)[:PROMPT_LINES]))
    return [t for t in lines if id(t) in keep]


def title_line(lines: Sequence[TextLine]) -> TextLine | None:
    """The line that reads as the picture's title: in the top third and clearly the largest."""
    if len(lines) < 2:
        return None
    words = [t for t in lines if not NUMBER.match(t.text)]
    if not words:
        return None
    top = max(words, key=lambda t: t.height)
    others = sorted(t.height for t in lines if t is not top)
    usual = others[len(others) // 2]
    return top if top.box[1] < 0.34 and top.height >= 1.25 * usual else None


def gather(loaded: Any, lines: Sequence[TextLine] | None, hints: Sequence[str], functional: bool,
           features: Features | None = None) -> Evidence:
    """The measured evidence of a loaded image (``images.LoadedImage``), without captions.
    ``lines``: its visible text as OCR read it, or None when OCR did not run; ``hints``: its file
    name and page context; ``functional``: it is the only content of a link or button;
    ``features``: its pixels' ``kind.measure``, where already measured."""
    if loaded.image is None:  # SVG: its own text is the evidence
        return Evidence(svg_text=loaded.svg_text, metadata=loaded.metadata)
    features = features or measure(loaded.image, loaded.width, loaded.height, loaded.alpha, lines or ())
    kind = classify(features, hints, functional)
    text = tuple(lines or ())
    if kind.name == "photo":
        text = tuple(t for t in text if _legible(t))[:PHOTO_LINES]
    return Evidence(kind=kind.name, kind_reason=kind.reason, text=text, read=lines is not None,
                    metadata=loaded.metadata, colours=tie_colours(loaded.image, kind, text))


PHOTO_LINES = 4


def _legible(line: TextLine) -> bool:
    """Text in a photograph worth telling: a sign or a label read with confidence, not the specks
    OCR finds in foliage and crowds."""
    return line.score >= 0.9 and line.height >= 0.03 and len(re.findall(r"[^\W\d_]", line.text)) >= 3


def tie_colours(image: Any, kind: Kind, lines: Sequence[TextLine]) -> tuple[tuple[str, str, str], ...]:
    """Colours the pixels tie to something: the background, a legend key, the box a short label
    sits on. Photographs get only a background, and only when one colour holds nearly all the edge."""
    import numpy as np

    if kind.name == "decorative":
        return ()
    pixels = np.asarray(image, dtype=np.int16)
    name, share = colour_names.border(pixels)
    out: list[tuple[str, str, str]] = []
    if name and share >= (0.9 if kind.name == "photo" else 0.6):
        out.append(("background", "", name))
    if kind.name == "photo":
        return tuple(out)
    if kind.name in ("illustration", "logo") and not lines:
        main = [n for n, s in colour_names.dominant(pixels[::4, ::4], 0.08) if n != name][:3]
        if main:
            out.append(("main", ", ".join(main), ""))
    h, w = pixels.shape[:2]
    background = np.median(np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]]), axis=0)
    for line in lines:
        if len(out) >= 8:
            break
        key = swatch(pixels, line, background)
        if key is not None:
            out.append(("key", line.text, colour_names.name(key)))
            continue
        if len(line.text) > 30 or not boxed(pixels, line):
            continue
        x0, y0, x1, y1 = box_pixels(line.box, w, h)
        ring = np.concatenate([pixels[max(0, y0 - 2) : y0, x0:x1].reshape(-1, 3), pixels[y1 : y1 + 2, x0:x1].reshape(-1, 3)])
        if len(ring) and float(np.abs(np.median(ring, axis=0) - background).sum()) > 90:
            fill = colour_names.name(np.median(ring, axis=0))
            if fill != name:
                out.append(("on", line.text, fill))
    return tuple(out)


def compose(evidence: Evidence, language: str, maximum: int, link_target: str = "") -> str:
    """An alt text from the evidence alone, with no model: what ``--backend none`` writes, and the
    fallback when no answer of the writer is acceptable. '' when the evidence cannot say what the
    picture shows in ``language``."""
    sep, end = ("；", "。") if language == "zh" else ("; ", ".")
    authored = next((v for f, v in evidence.metadata if "Description" in f or "Caption" in f or "description" in f), "")
    authored = authored or next((v for _, v in evidence.metadata), "")
    lines = [t.text for t in prompt_lines(evidence.text)]
    kind = evidence.kind
    if authored and _fits_language(authored, language):
        return _fit(authored, maximum, end)
    if lines and kind == "text":
        return _fit(" ".join(lines), maximum, end)
    if lines and kind in _TEXT_KINDS:
        items = visible_items(evidence, language, maximum)
        if kind == "logo":
            return _fit((f"{' '.join(items)}的标志" if language == "zh" else f"{' '.join(items)} logo"), maximum, end)
        return _join_items(_opening(kind, language), items, sep, end)
    if evidence.caption and _fits_language(evidence.caption, language):
        caption = scrub(evidence.caption, "en")
        return _fit(caption[0].upper() + caption[1:], maximum, end) if caption else ""
    if lines and kind not in ("photo", "illustration"):  # a sign in a photo does not say what the photo shows
        return _fit(" ".join(lines), maximum, end)
    if link_target:
        label = _link_label(link_target)
        if label:
            return _fit(label, maximum, end)
    return ""


_TEXT_KINDS = ("screenshot", "chart", "diagram", "logo")


def _opening(kind: str, language: str) -> str:
    head = _KIND_WORDS[language][kind]
    return f"{head}：" if language == "zh" else f"{head[0].upper()}{head[1:]}: "


def visible_items(evidence: Evidence, language: str, maximum: int) -> list[str]:
    """The visible text an alt text of this picture should carry, as much as fits in ``maximum``
    characters, in order: the title, the words in reading order, then the numbers. Where not all of
    it fits, labels and headings go in before sentences (the fine print), and words before numbers
    (axis ticks, values)."""
    lines = prompt_lines(evidence.text)
    if not lines:
        return []
    if evidence.kind == "text":
        return [t.text for t in lines]
    title = title_line(evidence.text)
    rest = [t.text for t in lines if t is not title]
    ordered = ([title.text] if title else []) + [t for t in rest if not NUMBER.match(t)] + [t for t in rest if NUMBER.match(t)]
    texts = list(dict.fromkeys(t.rstrip(".。") or t for t in ordered))
    sep = "；" if language == "zh" else "; "
    opening = _opening(evidence.kind, language) if evidence.kind in _TEXT_KINDS else ""
    room = maximum - len(opening) - 1
    long = 20 if language == "zh" else 40  # a sentence rather than a label

    def rank(k: int) -> tuple[bool, bool, int]:
        return bool(NUMBER.match(texts[k])) and k > 0, len(texts[k]) > long and k > 0, k

    chosen: set[int] = set()
    used = 0
    for k in sorted(range(len(texts)), key=rank):
        cost = len(texts[k]) + (len(sep) if chosen else 0)
        if used + cost <= room or not chosen:
            chosen.add(k)
            used += cost
    return [t for k, t in enumerate(texts) if k in chosen]


def _join_items(opening: str, items: Sequence[str], sep: str, end: str) -> str:
    text = opening + sep.join(items)
    return text if text[-1:] in "!?！？" else text + end


def _fits_language(text: str, language: str) -> bool:
    """Chinese pages take Chinese text; English pages take anything that is not mostly Chinese."""
    chinese = len(_CJK.findall(text))
    return chinese >= 2 if language == "zh" else chinese < len(text) / 3


def _fit(text: str, maximum: int, end: str) -> str:
    text = " ".join(text.split())
    if len(text) > maximum:
        cut = text[: maximum - 1]
        text = (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(" ,;:，；：")
    return text if text[-1:] in ".!?。！？…" else text + end


def _link_label(target: str) -> str:
    """A link's destination as words: ``/docs/getting-started/`` -> ``Getting started``."""
    path = urllib.parse.urlsplit(target).path.rstrip("/")
    last = urllib.parse.unquote(path.rsplit("/", 1)[-1]) if path else urllib.parse.urlsplit(target).netloc
    last = re.sub(r"\.(?:html?|php|aspx?|md)$", "", last)
    words = re.sub(r"[-_]+", " ", last).strip()
    return words[:1].upper() + words[1:] if words else ""
