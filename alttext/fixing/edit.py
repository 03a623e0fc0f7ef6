"""Edits: where the alt text goes for each syntax, and splicing them into the text.

Every edit is the smallest change that gives the image its alt text: an attribute inserted into a
start tag, a Markdown label filled in. Nothing else in the file moves. Positions come from the
scanner (stdlib ``html.parser`` and markdown-it offsets, verified); BeautifulSoup never writes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from markdown_it import MarkdownIt

from alttext import escape
from alttext.fixing.markup import FRONT_MATTER, TAG_NAME, attributes
from alttext.model import Finding


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    text: str


class EditError(ValueError):
    pass


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """``text`` with every edit spliced in. Overlapping edits (or two at one point) are refused."""
    ordered = sorted(edits, key=lambda e: (e.start, e.end))
    for a, b in zip(ordered, ordered[1:]):
        if b.start < a.end or b.start == a.start:
            raise EditError(f"edits overlap at offsets {a.start}-{a.end} and {b.start}-{b.end}")
    pieces, cursor = [], 0
    for e in ordered:
        pieces += [text[cursor : e.start], e.text]
        cursor = e.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def _html_edit(finding: Finding, tag: str, alt: str) -> Edit | str:
    m = TAG_NAME.match(tag)
    if not m or not tag.endswith(">"):
        return "the tag could not be read back"
    attrs = attributes(tag)
    first = {a.name: a for a in reversed(attrs)}  # html.parser's first occurrence wins
    role = (first["role"].value or "").strip().lower() if "role" in first else ""
    hidden = (first["aria-hidden"].value or "").strip().lower() if "aria-hidden" in first else ""
    if role in ("presentation", "none") or hidden == "true":
        return "the image is hidden from assistive technology (role or aria-hidden); alt text alone cannot fix it"
    base = finding.start
    upper = m.group(1).isupper()
    quote = "'" if any(a.quote == "'" for a in attrs) and not any(a.quote == '"' for a in attrs) else '"'
    if "alt" in first:
        a = first["alt"]
        if a.value_span is not None and a.quote:
            return Edit(base + a.value_span[0], base + a.value_span[1], escape.html_attribute(alt, a.quote))
        # A bare or unquoted alt: write the whole attribute, in the tag's own case.
        end = a.value_span[1] if a.value_span is not None else a.name_span[1]
        name = tag[a.name_span[0] : a.name_span[1]]
        return Edit(base + a.name_span[0], base + end, f"{name}={quote}{escape.html_attribute(alt, quote)}{quote}")
    # Insert after the last attribute, before any whitespace and the closing ``>`` or ``/>``.
    at = len(tag) - 1
    if tag.endswith("/>") and tag[-3:-2] in (" ", "\t", "\n", "\r", '"', "'", "}") or tag == f"<{m.group(1)}/>":
        at -= 1  # a self-closing slash (in ``src=x/>`` the slash belongs to the value)
    while at > m.end() and tag[at - 1] in " \t\n\r\f":
        at -= 1
    name = "ALT" if upper else "alt"
    return Edit(base + at, base + at, f" {name}={quote}{escape.html_attribute(alt, quote)}{quote}")


def label_end(text: str, start: int, end: int) -> int | None:
    """The offset of the ``]`` that closes the label opened at ``start`` (``![``), or None."""
    depth, i = 1, start + 2
    while i < end:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "`":
            run = len(text[i:end]) - len(text[i:end].lstrip("`"))
            close = text.find("`" * run, i + run, end)
            if close != -1:
                i = close + run
                continue
            i += run
            continue
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


_SHORTCODE_ALT = re.compile(r"""(?<![\w-])alt\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|`([^`]*)`|(\S+))""")
_SHORTCODE_CLOSE = re.compile(r"\s*/?\s*[>%]\}\}\Z")


def _shortcode_edit(finding: Finding, code: str, alt: str) -> Edit | str:
    value = escape.shortcode_value(alt)
    m = _SHORTCODE_ALT.search(code)
    if m:
        return Edit(finding.start + m.start(), finding.start + m.end(), f'alt="{value}"')
    close = _SHORTCODE_CLOSE.search(code)
    if close is None:
        return "the shortcode could not be read back"
    at = finding.start + close.start()
    return Edit(at, at, f' alt="{value}"')


def edit_for(text: str, finding: Finding, alt: str, prepared: str | None = None) -> Edit | str:
    """The edit that gives ``finding``'s image the alt text ``alt``, or why there is none.

    ``prepared`` is the same-length text with site templating made opaque (Liquid, Hugo, MDX
    expressions), so that a ``>`` inside an expression is not read as the end of a tag.
    """
    if not finding.exact:
        return "its position could not be verified"
    if not escape.plain(alt):
        return "no alt text"
    source = text[finding.start : finding.end]
    if finding.syntax == "html":
        return _html_edit(finding, (prepared or text)[finding.start : finding.end], alt)
    if finding.syntax == "hugo-shortcode":
        return _shortcode_edit(finding, source, alt)
    if not source.startswith("!["):
        return "the image could not be read back"
    close = label_end(text, finding.start, finding.end)
    if close is None:
        return "the image label could not be read back"
    label = escape.markdown_label(alt)
    if finding.syntax in ("md-inline", "md-reference"):
        return Edit(finding.start + 2, close, label)
    if finding.syntax in ("md-collapsed", "md-shortcut"):
        # The label is the reference: keep it as the reference, put the alt text in front.
        reference = text[finding.start + 2 : close]
        return Edit(finding.start, finding.end, f"![{label}][{reference}]")
    return f"unknown syntax {finding.syntax}"


DECORATIVE_COMMENT = "<!-- alttext: decorative -->"
DECORATIVE_MDX = "{/* alttext: decorative */}"

# What may stand before an image at the start of its block: indentation, quote marks, one list
# marker. Anything else is text, and an inline comment after it starts no block.
_BLOCK_START = re.compile(r"^[ \t]*(?:>[ \t]?)*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+(?:>[ \t]?)*)?$")


def decorative_edit(text: str, finding: Finding, prepared: str | None = None, engine: str = "") -> Edit | str:
    """The edit that marks ``finding``'s image decorative, or why there is none: ``alt=""`` in
    HTML; in Markdown, which has no syntax for it, alttext's marker comment (``{/* … */}`` in
    MDX), which speaks for the next image on its line or the line after.

    In Markdown the marker must not change the page: a comment that starts a line starts an HTML
    block, which would swallow the image or split its paragraph. So it goes in front of the image
    where text precedes it on its line; where the image starts its block, on a line of its own
    above it, or else at the end of the line above (when that line is prose). Each place is kept
    only if CommonMark renders the page as before, the comment aside."""
    if not finding.exact:
        return "its position could not be verified"
    if finding.rule != "ALT001" or finding.element not in ("img", "markdown"):
        return "only an image without alt text can be decorative (a linked image, an image button or a map area needs a name)"
    if finding.syntax == "html":
        return _html_edit(finding, (prepared or text)[finding.start : finding.end], "")
    if finding.syntax not in ("md-inline", "md-reference", "md-collapsed", "md-shortcut"):
        return f"a {finding.syntax} image cannot be marked decorative"
    marker = DECORATIVE_MDX if (engine or finding.engine) == "mdx" else DECORATIVE_COMMENT
    line_start = max(text.rfind("\n", 0, finding.start), text.rfind("\r", 0, finding.start)) + 1
    before = text[line_start : finding.start]
    if not _BLOCK_START.match(before):
        candidates = [Edit(finding.start, finding.start, marker + " ")]
    else:
        newline = _line_ending(text, line_start)
        prefix = "".join(ch if ch in " \t>" else " " for ch in before)
        candidates = [Edit(line_start, line_start, prefix + marker + newline)]
        if line_start:
            above_end = line_start - len(newline) if text[line_start - len(newline) : line_start] == newline else line_start - 1
            above = text[max(text.rfind("\n", 0, above_end), text.rfind("\r", 0, above_end)) + 1 : above_end]
            if re.search(r"\w", above):  # prose, not a rule, a fence, an underline or front matter's end
                candidates.append(Edit(above_end, above_end, " " + marker))
    rendered = _rendered(text)
    for edit in candidates:
        if _rendered(apply_edits(text, [edit]), marker) == rendered:
            return edit
    return f"a marker here would change how the page renders; put {marker} before the image by hand"


def _line_ending(text: str, line_start: int) -> str:
    """The line ending the file uses at ``line_start`` (the one before it, or the first one)."""
    if line_start >= 2 and text[line_start - 2 : line_start] == "\r\n":
        return "\r\n"
    if line_start >= 1:
        return text[line_start - 1]
    found = re.search(r"\r\n|\r|\n", text)
    return found.group(0) if found else "\n"


@functools.cache
def _commonmark() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


def _rendered(text: str, marker: str = "") -> str:
    """The page as CommonMark (with tables) renders it: front matter, which is the engine's,
    blanked; the marker taken out; white space as HTML collapses it."""
    text = FRONT_MATTER.sub(lambda m: re.sub(r"[^\r\n]", "", m.group(0)), text, count=1)
    html = _commonmark().render(text)
    if marker:
        html = html.replace(marker, " ")
    return re.sub(r"\s*(<[^>]+>)\s*", r"\1", re.sub(r"\s+", " ", html)).strip()
