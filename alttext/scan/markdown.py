"""Images in Markdown, located exactly.

markdown-it-py gives block tokens line ranges only. The ``image`` and ``html_inline`` inline rules
are wrapped to record each token's span in its block's inline content; a ``_LineMap`` maps content
offsets back to file offsets line by line (blocks strip ``>`` markers, list indentation and
surrounding whitespace). A mapped span is trusted only if the file reads back what the token says.
Code spans, fences, indented code and HTML comments never produce images: the parser skips them.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from collections.abc import Callable
from typing import Any

from alttext.scan import templates
from alttext.scan.events import MAX_NESTING, Event, ImageEvent, MarkerEvent
from alttext.scan.html import link_close, link_open, scan_html
from alttext.scan.lines import BREAK, LineIndex, split_lines
from alttext.scan.rules import IMAGE_TAG, markdown_verdict, may_hold_image
from alttext.scan.templates import dedent_mkdocs, reveal

_FRONT_MATTER_FENCES = {"---": ("---", "..."), "+++": ("+++",)}


def _with_span(rule: Callable[[Any, bool], bool]) -> Callable[[Any, bool], bool]:
    def wrapped(state: Any, silent: bool) -> bool:
        start = state.pos
        ok = rule(state, silent)
        if ok and not silent:
            token = state.tokens[-1]
            token.meta["span"] = (start, state.pos)
            # Images in an image's label are parsed from a copy of the label; their spans are
            # relative to it, and they never render as elements anyway.
            token.meta["src"] = state.src
        return ok

    return wrapped


@functools.lru_cache(maxsize=None)
def parser(engine: str = "gfm") -> Any:
    """A markdown-it parser configured as ``engine`` renders Markdown."""
    from markdown_it import MarkdownIt
    from markdown_it.rules_inline import html_inline, image

    md = MarkdownIt("commonmark", {"html": True, "maxNesting": MAX_NESTING})
    if engine != "commonmark":
        md.enable(["table", "strikethrough"])
    if engine == "mdx":
        # MDX has no indented code, and parses Markdown inside JSX and HTML: no raw HTML blocks,
        # tags become inline HTML around ordinary Markdown.
        md.disable(["code", "html_block"])
    # Inline parsing runs only on the blocks that can hold an image (see scan_markdown).
    md.core.ruler.disable(["inline", "text_join"])
    # Keep destinations as written: findings report the src the author typed, and there is no
    # HTML to make safe (percent-encoding them cost a tenth of the scan).
    md.normalizeLink = lambda url: url
    # CommonMark renders every destination, javascript:, file: and data: ones included; refusing
    # them is a renderer's safety net, and here it would hide images from check (fix refuses
    # such sources itself, in alttext.fixing.locate).
    md.validateLink = lambda url: True
    md.inline.ruler.at("image", _with_span(image))
    md.inline.ruler.at("html_inline", _with_span(html_inline))
    return md


def front_matter_lines(lines: list[str]) -> int:
    """How many leading lines are YAML (``---``) or TOML (``+++``) front matter."""
    if not lines:
        return 0
    closers = _FRONT_MATTER_FENCES.get(lines[0].rstrip())
    if not closers:
        return 0
    for i in range(1, len(lines)):
        if lines[i].rstrip() in closers:
            return i + 1
    return 0


class _LineMap:
    """Maps offsets in a block's content (its lines joined by ``\\n``) to offsets in the file."""

    def __init__(
        self,
        content: str,
        first_line: int,
        lines: list[str],
        shifts: list[int],
        index: LineIndex,
        cursor: int | None = None,
    ) -> None:
        self._index = index
        self._shifts = shifts
        self._starts: list[int] = []
        self._lines: list[tuple[int, int, int] | None] = []  # (file line, column, lead)
        pos = 0
        for k, piece in enumerate(content.split("\n")):
            self._starts.append(pos)
            line_no = first_line + k
            source = lines[line_no] if line_no < len(lines) else None
            aligned = None if source is None else _align(piece, source, cursor)
            self._lines.append(None if aligned is None else (line_no, *aligned))
            pos += len(piece) + 1

    def offset(self, pos: int) -> int | None:
        k = bisect.bisect_right(self._starts, pos) - 1
        place = self._lines[k]
        col = pos - self._starts[k]
        if place is None or col < place[2]:
            return None
        line_no, column, lead = place
        return self._index.offset(line_no, self._shifts[line_no] + column + col - lead)


def _align(piece: str, source: str, cursor: int | None) -> tuple[int, int] | None:
    """(column in ``source`` where ``piece`` starts, leading chars of ``piece`` not in source)."""
    if cursor is not None:  # a table cell: somewhere in the row, after the previous cell
        col = source.find(piece, cursor)
        return None if col < 0 else (col, 0)
    stripped = piece.rstrip()
    if not stripped:
        return None
    end = len(source.rstrip())
    col = end - len(stripped)
    if col >= 0 and source.startswith(stripped, col):
        return col, 0
    # A tab partly expanded into spaces by the block parser: those spaces are not in the file.
    bare = stripped.lstrip(" ")
    col = end - len(bare)
    if bare and col >= 0 and source.startswith(bare, col):
        return col, len(stripped) - len(bare)
    return None


def _reads_back(text: str, start: int, end: int, expected: str) -> bool:
    found = BREAK.split(text[start:end])
    wanted = expected.split("\n")
    if len(found) != len(wanted) or found[0] != wanted[0]:
        return False
    # Continuation lines carry the block's prefix (``> ``, indentation) before the content.
    return all(f.endswith(w) for f, w in zip(found[1:], wanted[1:]))


def _locate(text: str, lmap: _LineMap, a: int, b: int, expected: str, fallback: int) -> tuple[int, int, bool]:
    start = lmap.offset(a)
    last = lmap.offset(b - 1) if b > a else start
    if start is not None and last is not None and _reads_back(text, start, last + 1, expected):
        return start, last + 1, True
    return fallback, fallback, False


def _syntax(raw: str, label: str) -> str:
    rest = raw[len(label) + 3 :]
    if rest.startswith("("):
        return "md-inline"
    if rest == "[]":
        return "md-collapsed"
    if rest.startswith("["):
        return "md-reference"
    return "md-shortcut"


def _html_events(snippet: str, base: int, view: str, lmap: _LineMap, fallback: int) -> list[Event]:
    events: list[Event] = []
    for event in scan_html(snippet, prepared=True):
        start, end, exact = _locate(view, lmap, base + event.start, base + event.end, snippet[event.start : event.end], fallback)
        if isinstance(event, MarkerEvent):
            if exact:
                events.append(MarkerEvent(start, end, event.kind, event.rules))
        else:
            events.append(ImageEvent(start, end, event.element, event.syntax, event.src, event.verdict, exact))
    return events


def _alt_text(children: list[Any]) -> str:
    """An image description as plain text, as CommonMark renders alt: text, backslash escapes and
    code spans keep their characters, emphasis and links their text, line breaks become spaces.
    (markdown-it's renderInlineAsText drops escapes when the core text_join rule has not run.)"""
    out = []
    for token in children:
        if token.type in ("text", "text_special", "code_inline"):
            out.append(token.content)
        elif token.type == "image":
            out.append(_alt_text(token.children or []))
        elif token.type in ("softbreak", "hardbreak"):
            out.append("\n")
    return "".join(out)


def _sole_link_content(children: list[Any]) -> set[int]:
    """Indices of images that are the only content of their link (whitespace aside)."""
    sole: set[int] = set()
    i = 0
    while i < len(children):
        if children[i].type == "link_open":
            j = i + 1
            while j < len(children) and children[j].type != "link_close":
                j += 1
            inside = [
                k
                for k in range(i + 1, j)
                if not (children[k].type in ("text", "softbreak") and not children[k].content.strip())
            ]
            if len(inside) == 1 and children[inside[0]].type == "image":
                sole.add(inside[0])
            i = j
        i += 1
    return sole


def prepare(text: str, engine: str) -> tuple[str, list[Event]]:
    """The text as the engine's Markdown parser would see it (same length), and the images and
    markers the engine itself defines (Hugo figure shortcodes, MDX comment markers)."""
    if engine == "jekyll":
        prepared = templates.prepare_jekyll(text)
    elif engine == "hugo":
        prepared = templates.prepare_hugo(text)
    elif engine == "mdx":
        prepared = templates.prepare_mdx(text)
    else:
        return text, []
    return prepared.text, prepared.events


# Lines that open a block which may hold blank lines: fences and HTML blocks of types 1 to 5.
_LONG_BLOCK = re.compile(
    r"^ {0,3}(?:(`{3,}|~{3,})|<(script|pre|style|textarea)(?:[\s>]|$)|(<!--)|(<\?)|(<![A-Za-z])|(<!\[CDATA\[))",
    re.IGNORECASE | re.MULTILINE,
)
# Without indented code (MDX) a fence may be indented any amount.
_LONG_BLOCK_ANY_INDENT = re.compile(_LONG_BLOCK.pattern.replace("^ {0,3}", "^[ \t]*"), re.IGNORECASE | re.MULTILINE)
_INLINE_OPENER = re.compile(r"[`\[<\\!]")
_HTML_BLOCK_ENDS = {2: "-->", 3: "?>", 4: ">", 5: "]]>"}
# What makes a chunk worth parsing. Each pattern starts with a literal so the regex engine can
# jump between candidates instead of trying every position (IGNORECASE would prevent that).
_KEEP = (re.compile(r"!\["), IMAGE_TAG, re.compile(r"\]:"), re.compile(r"alttext[:-]", re.IGNORECASE))


# The line breaks before the lines the chunker must look at: openers, HTML-looking lines and
# blank lines (a literal first, for the same reason as _KEEP).
_INTERESTING = re.compile(r"\n(?= {0,3}(?:`{3}|~{3}|<)|[ \t]*(?:\n|$))")
_INTERESTING_ANY_INDENT = re.compile(r"\n(?=[ \t]*(?:`{3}|~{3}|<)|[ \t]*(?:\n|$))")


def _top_level_chunks(
    lines: list[str], start: int, joined: str, starts: list[int], any_indent: bool = False
) -> list[tuple[int, int]]:
    """Split ``lines[start:]`` into ranges that the block parser reads independently.

    A blank line followed by an unindented line closes every container (list items, block
    quotes, indented code), so the parser is back at the top level there, unless a top-level
    fence or an HTML block of types 1 to 5 is still open: those are tracked. Where the structure
    is ambiguous without a full parse (an indented fence may belong to a list item; a fence line
    inside an HTML block of type 6 or 7 is not a fence), the rest of the document stays one chunk:
    merging chunks is always safe, a false split never is.
    """
    n = len(lines)
    first = starts[start] if start < len(starts) else len(joined)
    interesting, long_block = (_INTERESTING_ANY_INDENT, _LONG_BLOCK_ANY_INDENT) if any_indent else (_INTERESTING, _LONG_BLOCK)
    candidates = [start] + [bisect.bisect_right(starts, m.start() + 1) - 1 for m in interesting.finditer(joined, first)]
    chunks: list[tuple[int, int]] = []
    begin = start
    i = start  # the first line not yet accounted for
    for c in candidates:
        if c < i:
            continue
        line = lines[c]
        m = long_block.match(line)
        if m:
            if line[:1] in (" ", "\t"):
                break
            i = _end_of_long_block(lines, c, m, any_indent)
            continue
        if line[:1] == "<" and line[1:2].isalpha() or line[:2] == "</":
            j = c
            while j < n and lines[j].strip():
                if long_block.match(lines[j]):
                    return chunks + [(begin, n)]
                j += 1
            i = j
            continue
        if not line.strip() and c + 1 < n and lines[c + 1][:1] not in ("", " ", "\t") and c + 1 > begin:
            chunks.append((begin, c + 1))
            begin = c + 1
        i = c + 1
    chunks.append((begin, n))
    return chunks


def _end_of_long_block(lines: list[str], i: int, m: re.Match[str], any_indent: bool = False) -> int:
    """The index of the first line after the fence or HTML block opened on line ``i``."""
    n = len(lines)
    fence = m.group(1)
    if fence:
        if fence[0] == "`" and "`" in lines[i][lines[i].index(fence) + len(fence) :]:
            return i + 1  # not a fence: a backtick fence's info string has no backtick
        indent = r"^[ \t]*" if any_indent else r"^ {0,3}"
        closer = re.compile(indent + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*$")
        j = i + 1
        while j < n and not closer.match(lines[j]):
            j += 1
        return j + 1
    if m.group(2):
        end = re.compile(r"</(?:script|pre|style|textarea)>", re.IGNORECASE)
    else:
        kind = next(k for k in (2, 3, 4, 5) if m.group(k + 1))
        end = re.compile(re.escape(_HTML_BLOCK_ENDS[kind]))
    j = i
    while j < n and not end.search(lines[j], m.end() if j == i else 0):
        j += 1
    return j + 1


def parse_lines(
    text: str,
    lines: list[str],
    starts: list[int],
    skip: int,
    everything: bool = False,
    changed: bool = False,
    any_indent: bool = False,
) -> tuple[list[str], list[int]]:
    """The lines handed to the parser, and the file line each one comes from.

    Front matter and the top-level chunks that can hold no image, reference definition or marker
    are left out; the chunks kept parse exactly as they would in the whole document.
    """
    if everything:
        body = [""] * skip + lines[skip:]
        return body, list(range(len(body)))
    # The text as the parser sees it (every line break a ``\n``) and where its lines start.
    joined = "\n".join(lines) if changed or len(starts) != len(lines) or "\r" in text else text
    if joined is not text:
        starts = [0, *itertools.accumulate(len(line) + 1 for line in lines[:-1])]
    begin = starts[skip] if skip < len(starts) else len(joined)
    keep = sorted({bisect.bisect_right(starts, m.start()) - 1 for pattern in _KEEP for m in pattern.finditer(joined, begin)})
    body: list[str] = []
    origin: list[int] = []
    for begin, end in _top_level_chunks(lines, skip, joined, starts, any_indent):
        k = bisect.bisect_left(keep, begin)
        if k < len(keep) and keep[k] < end:
            body.extend(lines[begin:end])
            origin.extend(range(begin, end))
    return body, origin


def scan_markdown(text: str, index: LineIndex | None = None, *, engine: str = "gfm", everything: bool = False) -> list[Event]:
    """Images and marker comments in a Markdown document, at offsets into ``text``.

    ``everything`` parses every line and every inline block from its start: the chunking and the
    inline cut are optimisations, and the tests check they change nothing.
    """
    if not may_hold_image(text, engine):
        return []

    md = parser(engine)
    index = index or LineIndex(text)
    view, events = prepare(text, engine)
    lines = split_lines(view)
    shifts = [0] * len(lines)
    if engine == "mkdocs":
        dedent_mkdocs(lines, shifts)
    changed = engine == "mkdocs" and any(shifts)
    skip = front_matter_lines(lines)
    body, origin = parse_lines(view, lines, index.starts, skip, everything, changed, any_indent=engine == "mdx")
    if not body:
        return events
    env: dict[str, Any] = {}
    tokens = md.parse("\n".join(body), env)
    row_cursor: dict[int, int] = {}
    for i, token in enumerate(tokens):
        if token.map is None:
            continue
        content = token.content
        first = origin[token.map[0]]
        if token.type in ("blockquote_open", "list_item_open") and token.level >= MAX_NESTING - 1:
            if may_hold_image("\n".join(body[token.map[0] : token.map[1]]), engine):
                at = index.offset(first, 0)
                events.append(MarkerEvent(at, at, "too-deep"))
            continue
        if token.type == "html_block":
            if "<" in content:
                fallback = index.offset(first, 0)
                lmap = _LineMap(content, first, lines, shifts, index)
                events.extend(_html_events(content, 0, view, lmap, fallback))
            continue
        if token.type != "inline" or not ("![" in content or "alttext" in content or IMAGE_TAG.search(content)):
            continue
        fallback = index.offset(first, 0)  # where an image whose position cannot be verified is reported
        in_cell = i > 0 and tokens[i - 1].type in ("th_open", "td_open")
        lmap = _LineMap(content, first, lines, shifts, index, row_cursor.get(first, 0) if in_cell else None)
        if in_cell:
            end = lmap.offset(len(content) - 1) if content else None
            if end is not None:
                row_cursor[first] = end + 1 - index.offset(first, shifts[first])
        _inline_events(md, env, content, view, lmap, fallback, events, everything)
    return events


def _inline_events(md: Any, env: dict[str, Any], content: str, view: str, lmap: _LineMap, fallback: int, events: list[Event],
                   everything: bool) -> None:
    """The images and raw HTML of one inline block, added to ``events``."""
    # Plain text before the first character that can open a construct reaching an image
    # (code span, link, HTML, escape, image) cannot change what is an image: skip it.
    opener = _INLINE_OPENER.search(content)
    cut = 0 if everything else opener.start() if opener else len(content)
    tail = content[cut:] if cut else content
    children: list[Any] = []
    md.inline.parse(tail, md, env, children)
    sole = _sole_link_content(children)
    link = None  # an open raw-HTML <a href>, whose name depends on what follows
    for k, child in enumerate(children):
        if link is not None and child.type == "text" and child.content.strip():
            link.text = True
        if child.meta.get("src") is not tail:
            continue
        a, b = (cut + p for p in child.meta["span"])
        if child.type == "html_inline":
            if link_close(child.content) and link is not None:
                link.close(events)
                link = None
            opened = link_open(child.content)
            if opened is not None:
                link = opened
                continue
            found = _html_events(child.content, a, view, lmap, fallback)
            if link is not None:
                link.images += [(len(events) + n, e.names_link) for n, e in enumerate(found) if isinstance(e, ImageEvent) and e.element == "img"]
            events.extend(found)
        elif child.type == "image":
            raw = content[a:b]
            alt = reveal(_alt_text(child.children or []))
            src = reveal(child.attrGet("src") or "")
            start, end, exact = _locate(view, lmap, a, b, raw, fallback)
            verdict = markdown_verdict(src, alt, linked=k in sole)
            if link is not None:
                link.images.append((len(events), bool(alt.strip())))
            events.append(ImageEvent(start, end, "markdown", _syntax(raw, child.content), src, verdict, exact))
    if link is not None:
        link.close(events)
