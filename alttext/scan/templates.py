"""What site engines do to a page before Markdown sees it, done without moving a single character.

Every transform here keeps the text's length and its line breaks, so an offset in the prepared
text is the same offset in the file:

- *blank*: characters become spaces (Liquid tags, comments, ``import`` lines): not text.
- *opaque*: characters become Private Use Area code points (``{{ site.url }}``, JSX ``{expr}``),
  one for one, so the parser sees a single space-free token where the engine would substitute
  a value, and :func:`reveal` gives the original back for messages.

The MkDocs transform is the exception: it removes the 4-space indentation of admonition and tab
bodies, and reports how many characters it removed from each line (``shifts``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from alttext import messages
from alttext.scan.events import Event, ImageEvent, MarkerEvent
from alttext.scan.rules import Verdict, marker_kind

_PUA = 0xF0000
_PUA_CHAR = re.compile("[\U000f0000-\U000ffffd]")


def _opaque(s: str) -> str:
    return "".join(c if c in "\r\n" else chr(_PUA + ord(c)) if ord(c) < 0xFFFE else "\U000ffffd" for c in s)


def _blank(s: str) -> str:
    return "".join(c if c in "\r\n" else " " for c in s)


def reveal(s: str) -> str:
    """Undo :func:`_opaque` (a no-op on ordinary text)."""
    if not _PUA_CHAR.search(s):
        return s
    return "".join(chr(ord(c) - _PUA) if "\U000f0000" <= c <= "\U000ffffd" else c for c in s)


@dataclass
class Prepared:
    text: str
    events: list[Event] = field(default_factory=list)


def _splice(text: str, spans: list[tuple[int, int, str]]) -> str:
    out, last = [], 0
    for start, end, replacement in sorted(spans):
        if start < last:
            continue
        out += [text[last:start], replacement]
        last = end
    out.append(text[last:])
    return "".join(out)


def _in_tag(text: str, pos: int) -> tuple[bool, bool]:
    """(inside a start tag, in an attribute value there) at ``pos``."""
    lt = text.rfind("<", 0, pos)
    if lt == -1 or text.rfind(">", lt, pos) != -1 or not text[lt + 1 : lt + 2].isalpha():
        return False, False
    between = text[lt:pos]
    quoted = between.count('"') % 2 == 1 or between.count("'") % 2 == 1
    return True, quoted or between.rstrip().endswith("=")


# --- Liquid (Jekyll) and Go templates (Hugo) ---------------------------------------------------

_LIQUID_BLOCK = re.compile(
    r"\{%-?\s*(raw|highlight|comment)\b.*?%\}.*?\{%-?\s*end\1\s*-?%\}", re.DOTALL
)
_LIQUID = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_HUGO_SHORTCODE = re.compile(r"\{\{(<|%)(?!\s*/\*)(.*?)(>|%)\}\}", re.DOTALL)
_GO_TEMPLATE = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_PARAM = re.compile(r"""([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|`([^`]*)`|(\S+))""")


def _neutralise(text: str, pattern: re.Pattern[str], spans: list[tuple[int, int, str]]) -> None:
    """Template expressions: opaque inside quoted values and in text, blank between attributes.

    Sequential on purpose: each decision reads the text as the earlier ones left it (an opaque
    value is not whitespace, a blanked tag is)."""
    masked = text
    for m in pattern.finditer(text):
        start, end = m.span()
        in_tag, quoted = _in_tag(masked, start)
        control = m.group(0).startswith("{%") and not quoted
        replacement = _blank(m.group(0)) if control or (in_tag and not quoted) else _opaque(m.group(0))
        spans.append((start, end, replacement))
        masked = masked[:start] + replacement + masked[end:]


def prepare_jekyll(text: str) -> Prepared:
    if "{" not in text:
        return Prepared(text)
    spans = [(m.start(), m.end(), _blank(m.group(0))) for m in _LIQUID_BLOCK.finditer(text)]
    text = _splice(text, spans)
    spans = []
    _neutralise(text, _LIQUID, spans)
    return Prepared(_splice(text, spans))


def _figure(match: re.Match[str]) -> ImageEvent | None:
    body = match.group(2).strip().rstrip("/").strip()
    name, _, rest = body.partition(" ")
    if name != "figure":
        return None
    # Hugo reads \" inside a double-quoted value as a quote (alttext writes one so).
    params = {m.group(1): m.group(2).replace('\\"', '"') if m.group(2) is not None else next(g for g in m.groups()[2:] if g is not None)
              for m in _PARAM.finditer(rest)}
    src = params.get("src", "")
    alt = params.get("alt")
    if (alt or "").strip() or (params.get("caption") or "").strip():
        # Hugo's figure uses the caption as alt when alt is not given.
        verdict = Verdict(None, alt=alt or params.get("caption"))
    else:
        verdict = Verdict("ALT001", messages.MISSING_FIGURE.format(src=src), alt=alt)
    return ImageEvent(match.start(), match.end(), "figure", "hugo-shortcode", src, verdict)


def prepare_hugo(text: str, shortcodes: bool = True) -> Prepared:
    """Hugo content: shortcodes are opaque (a ``figure`` is checked for alt); Go templates in
    HTML. ``shortcodes=False`` for layout templates, which have none."""
    if "{{" not in text:
        return Prepared(text)
    events: list[Event] = []
    spans = []
    for m in _HUGO_SHORTCODE.finditer(text) if shortcodes else ():
        figure = _figure(m)
        if figure:
            events.append(figure)
        # Opaque, not blank: ![]({{< param "cover" >}}) is an image whose src Hugo fills in.
        spans.append((m.start(), m.end(), _opaque(m.group(0))))
    text = _splice(text, spans)
    spans = []
    _neutralise(text, _GO_TEMPLATE, spans)
    return Prepared(_splice(text, spans), events)


# --- MDX (Docusaurus) --------------------------------------------------------------------------

_JSX_COMMENT = re.compile(r"\{/\*(.*?)\*/\}", re.DOTALL)
# As MDX reads ESM: ``import`` or ``export`` and a space at the start of a line, to the next blank line.
_ESM = re.compile(r"^(?:import|export) [^\n]*(?:\n(?![ \t]*(?:\n|$))[^\n]*)*", re.MULTILINE)
# Lines after which no paragraph is open: a heading, a thematic break, a setext underline, a fence.
_CLOSES_BLOCK = re.compile(r" {0,3}(?:#{1,6}(?:[ \t]|$)|([-=*_`~])(?:[ \t]*\1)*[ \t]*$)")


def _closing_brace(text: str, i: int) -> int:
    depth, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "\"'`":
            close = text.find(c, i + 1)
            if close == -1:
                return -1
            i = close
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _jsx_expressions(text: str) -> list[tuple[int, int]]:
    """``{…}`` attribute values inside JSX/HTML start tags."""
    found = []
    n = len(text)
    i = text.find("<")
    while i != -1:
        j = i + 1
        if j < n and text[j].isalpha():
            while j < n and text[j] != ">":
                c = text[j]
                if c in "\"'":
                    close = text.find(c, j + 1)
                    if close == -1:
                        break
                    j = close
                elif c == "{":
                    close = _closing_brace(text, j)
                    if close == -1:
                        break
                    found.append((j, close + 1))
                    j = close
                elif c == "<":
                    break
                j += 1
        i = text.find("<", max(j, i + 1))
    return found


def _esm_can_start(text: str, start: int) -> bool:
    """Whether ESM may start at ``start`` (a line start): like any MDX block, it cannot interrupt
    a paragraph, so an ``import`` or ``export`` line that continues one is text."""
    if start == 0:
        return True
    previous = text[text.rfind("\n", 0, start - 1) + 1 : start - 1].rstrip()
    return not previous or bool(_CLOSES_BLOCK.match(previous))


def prepare_mdx(text: str) -> Prepared:
    events: list[Event] = []
    spans = []
    if "{/*" in text:
        for m in _JSX_COMMENT.finditer(text):
            said = marker_kind(m.group(1))
            if said:
                events.append(MarkerEvent(m.start(), m.end(), *said))
            spans.append((m.start(), m.end(), _blank(m.group(0))))
    if "import" in text or "export" in text:
        spans += [(m.start(), m.end(), _blank(m.group(0))) for m in _ESM.finditer(text) if _esm_can_start(text, m.start())]
    text = _splice(text, spans)
    if "{" in text and "<" in text:
        text = _splice(text, [(s, e, _opaque(text[s:e])) for s, e in _jsx_expressions(text)])
    return Prepared(text, events)


# --- MkDocs (Python-Markdown with pymdownx) ----------------------------------------------------

# Admonitions (!!!), collapsible blocks (??? and ???+) and content tabs (=== "Tab").
_BLOCK_OPENER = re.compile(r"^( *)(?:(?:!!!|\?\?\?\+?)[ \t]+\S.*|===[!+]?[ \t]+(\"[^\"]*\"|'[^']*').*)$")
_MD_IN_HTML = re.compile(r"^( *)<([A-Za-z][\w-]*)\b[^>]*\bmarkdown(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|\S+))?[^>]*>\s*$")


def dedent_mkdocs(lines: list[str], shifts: list[int]) -> None:
    """Make admonition, tab and ``markdown``-attribute HTML bodies ordinary Markdown, in place."""
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if "!!!" in line or "???" in line or "===" in line:
            m = _BLOCK_OPENER.match(line)
            if m:
                indent = len(m.group(1))
                lines[i] = ""
                j = i + 1
                while j < n:
                    body = lines[j]
                    if not body.strip():
                        j += 1
                        continue
                    if body.startswith("    ", indent) and not body[:indent].strip():
                        lines[j] = body[:indent] + body[indent + 4 :]
                        shifts[j] += 4
                    elif body.startswith("\t", indent) and not body[:indent].strip():
                        lines[j] = body[:indent] + body[indent + 1 :]
                        shifts[j] += 1
                    else:
                        break
                    j += 1
        elif "markdown" in line and "<" in line:
            m = _MD_IN_HTML.match(line)
            if m:
                _unwrap_md_in_html(lines, i, m.group(2))
        i += 1


def _unwrap_md_in_html(lines: list[str], i: int, tag: str) -> None:
    opening = re.compile(rf"<{re.escape(tag)}\b", re.IGNORECASE)
    closing = re.compile(rf"</{re.escape(tag)}\s*>", re.IGNORECASE)
    depth = 0
    for j in range(i, len(lines)):
        depth += len(opening.findall(lines[j])) - len(closing.findall(lines[j]))
        if depth <= 0:
            if closing.fullmatch(lines[j].strip()):
                lines[i] = ""
                lines[j] = ""
            return
