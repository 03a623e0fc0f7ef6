"""What the page says around each image: the writer's context, the page language, and the
candidate sources (``srcset``, ``<picture>``) to describe. Read-only: BeautifulSoup reads HTML
here and nothing it builds is ever written back."""

from __future__ import annotations

import html
import posixpath
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field

from alttext.fixing.locate import Candidate, largest_raster, parse_srcset
from alttext.fixing.markup import FRONT_MATTER, attributes
from alttext.model import Context, Finding
from alttext.scan import kind_of
from alttext.scan.lines import lf_starts

_SENTENCE_LIMIT = 300
_BLOCKS = ("p", "li", "td", "th", "dd", "dt", "figure", "blockquote", "caption", "label", "section", "div")


@dataclass(frozen=True)
class Place:
    """One image on its page."""

    context: Context
    language: str = ""
    sources: tuple[str, ...] = field(default=())  # to try in order: the largest raster, then src
    # An image map area: the region of the map's image it covers, in the image's displayed
    # pixels, and the displayed size (width, height) when the img gives it.
    region: tuple[float, float, float, float] | None = None
    shown_size: tuple[float, float] | None = None


def _number(value: str | None) -> float | None:
    try:
        return float((value or "").strip().rstrip("px"))
    except ValueError:
        return None


def area_region(shape: str, coords: str) -> tuple[float, float, float, float] | None:
    """The bounding box of an ``<area>`` (None for ``default``, the whole image)."""
    try:
        values = [float(v) for v in re.split(r"[\s,]+", coords.strip()) if v]
    except ValueError:
        return None
    shape = (shape or "rect").strip().lower()
    if shape in ("circle", "circ") and len(values) >= 3:
        x, y, r = values[:3]
        return (x - r, y - r, x + r, y + r)
    if shape in ("poly", "polygon") and len(values) >= 6:
        xs, ys = values[0::2], values[1::2]
        return (min(xs), min(ys), max(xs), max(ys))
    if shape in ("rect", "rectangle") and len(values) >= 4:
        x0, y0, x1, y1 = values[:4]
        return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    return None


def _squeeze(text: str, limit: int = _SENTENCE_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _file_name(src: str) -> str:
    if src.lower().startswith("data:"):
        return ""
    return urllib.parse.unquote(posixpath.basename(urllib.parse.urlsplit(src).path))


def _sources(src: str, candidates: Sequence[Candidate]) -> tuple[str, ...]:
    best = largest_raster(candidates)
    return tuple(dict.fromkeys(s for s in (best, src) if s))


def html_places(text: str, findings: Sequence[Finding]) -> dict[int, Place]:
    """Places of the findings in an HTML document, by start offset."""
    from bs4 import BeautifulSoup

    wanted = {f.start: f for f in findings}
    starts = lf_starts(text)
    soup = BeautifulSoup(text, "html.parser")
    title = _squeeze(soup.title.get_text()) if soup.title else ""
    places: dict[int, Place] = {}
    for tag in soup.find_all(["img", "input", "area"]):
        if tag.sourceline is None:
            continue
        offset = starts[tag.sourceline - 1] + tag.sourcepos
        finding = wanted.get(offset)
        if finding is None:
            continue
        heading = tag.find_previous(re.compile(r"^h[1-6]$"))
        figure = tag.find_parent("figure")
        caption = figure.find("figcaption") if figure else None
        block = tag.find_parent(list(_BLOCKS))
        link = tag.find_parent("a", href=True)
        lang = tag.find_parent(attrs={"lang": True})
        candidates = parse_srcset(tag.get("srcset") or "")
        src, region, shown = finding.src, None, None
        if tag.name == "area":
            # An area's alt text names where it links; the picture is its region of the map's image.
            src, region, shown = _map_image(soup, tag)
        picture = tag.find_parent("picture")
        if picture is not None:
            for source in picture.find_all("source"):
                candidates += parse_srcset(source.get("srcset") or "", source.get("type") or "")
        places[offset] = Place(
            Context(
                page_title=title,
                heading=_squeeze(heading.get_text()) if heading else "",
                sentence=_squeeze(block.get_text(" ")) if block else "",
                figcaption=_squeeze(caption.get_text(" ")) if caption else "",
                link_target=tag.get("href", "") if tag.name == "area" else (link["href"] if link and finding.rule == "ALT003" else ""),
                title_attribute=_squeeze(tag.get("title") or ""),
                file_name=_file_name(src),
            ),
            lang.get("lang", "") if lang else "",
            _sources(src, candidates),
            region,
            shown,
        )
    return places


def _map_image(soup: object, area: object) -> tuple[str, tuple[float, float, float, float] | None, tuple[float, float] | None]:
    """The src of the image that uses ``area``'s map, the area's region, the image's shown size."""
    holder = area.find_parent("map")  # type: ignore[attr-defined]
    name = ((holder.get("name") or holder.get("id") or "") if holder else "").strip().lower()
    image = None
    if name:
        image = next((i for i in soup.find_all("img", usemap=True) if i["usemap"].strip().lower() == "#" + name), None)  # type: ignore[attr-defined]
    if image is None:
        return "", None, None
    width, height = _number(image.get("width")), _number(image.get("height"))
    region = area_region(area.get("shape") or "rect", area.get("coords") or "")  # type: ignore[attr-defined]
    return image.get("src") or "", region, (width, height) if width and height else None


_FRONT_KEY = r"^{key}[ \t]*[:=][ \t]*[\"']?(.*?)[\"']?[ \t]*$"
_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.MULTILINE)
_MD_IMAGE = re.compile(r"!\[([^\]]*)\](?:\([^)]*\)|\[[^\]]*\])?")
_MD_LINK = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\[[^\]]*\])")
_TAG = re.compile(r"<[^>]*>")
_MD_TITLE = re.compile(r"""\s(?:"([^"]*)"|'([^']*)'|\(([^)]*)\))\s*\)\Z""")
_LINK_AFTER = re.compile(r"\]\(\s*<?([^)\s>]+)")


def _front(front: str, key: str) -> str:
    m = re.search(_FRONT_KEY.format(key=key), front, re.MULTILINE)
    return m.group(1).strip() if m else ""


def _plain_markdown(text: str) -> str:
    text = _MD_IMAGE.sub(r"\1", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _TAG.sub(" ", text)
    text = re.sub(r"^[ \t]*(?:>[ \t]?|[-*+][ \t]|\d+[.)][ \t]|#{1,6}[ \t])", "", text, flags=re.MULTILINE)
    return html.unescape(re.sub(r"[*_`]+", "", text))


def _headings(text: str, body_start: int) -> list[tuple[int, str]]:
    """The ATX headings outside fenced code, in order: (offset, plain text)."""
    inside: list[tuple[int, int]] = []
    opened: tuple[int, str] | None = None
    for m in _FENCE.finditer(text, body_start):
        at, run = m.start(), m.group(1)
        if opened is None:
            opened = (at, run)
        elif run[0] == opened[1][0] and len(run) >= len(opened[1]):
            inside.append((opened[0], at))
            opened = None
    if opened is not None:
        inside.append((opened[0], len(text)))
    return [(m.start(), _squeeze(_plain_markdown(m.group(2)))) for m in _ATX.finditer(text, body_start)
            if not any(a <= m.start() < b for a, b in inside)]


def markdown_places(text: str, findings: Sequence[Finding]) -> dict[int, Place]:
    """Places of the findings in a Markdown document, by start offset."""
    front_match = FRONT_MATTER.match(text)
    front = front_match.group(1) if front_match else ""
    body_start = front_match.end() if front_match else 0
    headings = _headings(text, body_start)
    title = _front(front, "title") or next((h for at, h in headings if text[at:].lstrip(" ").startswith("# ")), "")
    language = _front(front, "lang") or _front(front, "language")
    return {f.start: _markdown_place(text, f, body_start, headings, _squeeze(title), language) for f in findings}


def _markdown_place(text: str, f: Finding, body_start: int, headings: list[tuple[int, str]], title: str, language: str) -> Place:
    heading = next((h for at, h in reversed(headings) if at < f.start), "")
    before = text.rfind("\n\n", body_start, f.start)
    after = text.find("\n\n", f.end)
    paragraph = text[before + 2 if before != -1 else body_start : after if after != -1 else len(text)]
    source = text[f.start : f.end]
    title_attribute, link_target, candidates = "", "", []
    if f.syntax == "html":
        attrs = {a.name: html.unescape(a.value or "") for a in reversed(attributes(source))}
        title_attribute = attrs.get("title", "")
        candidates = parse_srcset(attrs.get("srcset", ""))
    elif f.syntax == "md-inline":
        m = _MD_TITLE.search(source)
        title_attribute = next((g for g in m.groups() if g is not None), "") if m else ""
    if f.rule == "ALT003":
        m = _LINK_AFTER.match(text, f.end)
        link_target = m.group(1) if m else ""
    context = Context(page_title=title, heading=heading, sentence=_squeeze(_plain_markdown(paragraph)),
                      title_attribute=_squeeze(title_attribute), link_target=link_target, file_name=_file_name(f.src))
    return Place(context, language, _sources(f.src, candidates))


def places_in(path: str, text: str, findings: Sequence[Finding]) -> dict[int, Place]:
    """Places of the findings in the page at ``path``, by start offset."""
    return (markdown_places if kind_of(path) == "markdown" else html_places)(text, findings)
