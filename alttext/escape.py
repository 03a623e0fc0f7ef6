"""Alt text from a model, made safe for the place it goes.

Model output is untrusted. Whatever it says ends up as inert text: newlines, control characters
and invisible direction overrides never reach the file, an HTML attribute cannot be closed from
inside, a Markdown label cannot be closed or turned into markup, and templating (Liquid, Hugo,
MDX expressions) cannot be opened.
"""

from __future__ import annotations

import re

# C0 and C1 controls (tab, CR and LF included), and the bidirectional overrides and isolates that
# can make text read differently from what it is.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]+")
# Markdown label characters with a meaning: brackets and backslash close or escape the label,
# backticks open code, * _ ~ emphasis, < & raw HTML and entities, | a table cell, { } MDX and
# Liquid expressions. All are ASCII punctuation, so a backslash escape is valid CommonMark.
_MARKDOWN_SPECIAL = re.compile(r"([\\\[\]`*_~<>&|{}])")


def plain(text: str) -> str:
    """One line of visible text."""
    return " ".join(_UNSAFE.sub(" ", text).split())


def html_attribute(text: str, quote: str = '"') -> str:
    """The attribute value, without the quotes, for a value quoted with ``quote``."""
    value = plain(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = value.replace("{", "&#123;").replace("}", "&#125;")  # Liquid, Go templates, JSX
    # Raw HTML inside Markdown: a | would split a GFM table cell, a backtick could pair with one
    # before the tag and swallow it into a code span.
    value = value.replace("|", "&#124;").replace("`", "&#96;")
    return value.replace('"', "&quot;") if quote == '"' else value.replace("'", "&#39;")


def markdown_label(text: str) -> str:
    """The text of a Markdown image label (between ``![`` and ``]``)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", plain(text))


def shortcode_value(text: str) -> str:
    """A Hugo shortcode parameter value, without the double quotes. Hugo reads ``\\"``; a
    backslash of the text's own would start an escape, so it goes."""
    return plain(text).replace("\\", "").replace('"', '\\"')
