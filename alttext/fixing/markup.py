"""Raw markup that fixing reads beside the scanner's parse: a start tag's attributes with their
spans (where an edit goes, and what the writer is told), and a Markdown page's front matter."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A start tag's attributes, as html.parser reads them (its attrfind_tolerant): a name, then an
# optional value that is quoted or runs to whitespace or ``>``.
TAG_NAME = re.compile(r"<([a-zA-Z][^\s/>]*)")
_ATTR = re.compile(r"""([^\s/>][^\s/=>]*)(\s*=+\s*('[^']*'|"[^"]*"|(?!['"])[^>\s]*))?""")
_SEPARATORS = re.compile(r"(?:\s|/(?!>))*")

# YAML (``---``) or TOML (``+++``) front matter; group 1 is what it holds.
FRONT_MATTER = re.compile(r"\A(?:---|\+\+\+)[ \t]*\r?\n(.*?)\r?\n(?:---|\+\+\+|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)


@dataclass(frozen=True)
class Attribute:
    name: str  # lower-cased
    value: str | None  # without quotes, entities not decoded
    name_span: tuple[int, int]  # offsets into the tag text
    value_span: tuple[int, int] | None  # the value without its quotes
    quote: str  # ', " or '' (unquoted or no value)


def attributes(tag: str) -> list[Attribute]:
    """The attributes of a start tag's text, with their spans."""
    m = TAG_NAME.match(tag)
    if not m:
        return []
    out, i = [], m.end()
    while True:
        i = _SEPARATORS.match(tag, i).end()  # type: ignore[union-attr]
        if i >= len(tag) or tag[i] == ">":
            return out
        a = _ATTR.match(tag, i)
        if a is None or a.end() == i:
            return out
        value_span, quote, value = None, "", None
        if a.group(3) is not None:
            v0, v1 = a.span(3)
            if tag[v0:v1][:1] in ("'", '"') and v1 - v0 >= 2:
                quote, v0, v1 = tag[v0], v0 + 1, v1 - 1
            value_span, value = (v0, v1), tag[v0:v1]
        out.append(Attribute(a.group(1).lower(), value, a.span(1), value_span, quote))
        i = a.end()
