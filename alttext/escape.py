"""Alt text from a model, made safe for the place it goes.

Model output is untrusted. Whatever it says ends up as inert text: newlines, control characters,
invisible characters and direction overrides never reach the file, an HTML attribute cannot be
closed from inside, a Markdown label cannot be closed or turned into markup, and templating
(Liquid, Hugo, MDX expressions) cannot be opened.

``plain`` is the one written form of an alt text, whatever the page. It rewords the few characters
that mean something in some dialect instead of escaping them: kramdown shows ``\\&`` and ``\\~``
literally, and Hugo before goldmark 1.5 shows every backslash escape, so a backslash would reach
a screen reader. What is left needs no Markdown escape at all, and the HTML attribute only
entities, which every engine decodes.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Template and expression delimiters, Liquid (with its whitespace control) and Hugo shortcodes.
_TEMPLATE = re.compile(r"\{\{-?[<%]?|[>%]?-?\}\}|\{%-?|-?%\}")
# Terminal escape sequences (colours, OSC 8 links, titles) and tags: neither is text.
_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x9b[0-?]*[ -/]*[@-~]")
_TAG = re.compile(r"</?[A-Za-z][^<>]*>|<!--.*?-->")
# A comparison the text states, reworded; any other < or > would open a tag or JSX.
_COMPARISON = re.compile(r"(?<!\S)([<>])(?=\s|\d)")
_ANGLE = re.compile(r"[<>]")
# What would make CommonMark read a character reference (&amp; &#123;) instead of the text.
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
# An underscore that could open or close emphasis (one inside a word cannot).
_LOOSE_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
_REWORD = str.maketrans({"[": "(", "]": ")", "{": "(", "}": ")", "`": "'", "|": "/", "\\": None, "*": None, "~": None})


def _visible(text: str) -> str:
    """Controls (tab, CR and LF included) become spaces; invisible format characters (zero-width
    spaces and joiners, bidi marks and overrides, soft hyphens, U+FEFF) and private-use characters
    go."""
    out = []
    for c in text:
        category = unicodedata.category(c)
        if category in ("Cc", "Zl", "Zp"):
            out.append(" ")
        elif category not in ("Cf", "Co", "Cs", "Cn"):
            out.append(c)
    return "".join(out)


def plain(text: str) -> str:
    """The alt text as it is written into any page: one line of visible prose, no markup, no
    template. ``plain(plain(t)) == plain(t)``."""
    text = _visible(_TAG.sub(" ", _SEQUENCE.sub("", html.unescape(text))))
    while True:  # removing one delimiter can join the halves of another
        stripped = _TEMPLATE.sub(" ", text)
        if stripped == text:
            break
        text = stripped
    text = _COMPARISON.sub(lambda m: " less than " if m.group(1) == "<" else " greater than ", text)
    text = _ANGLE.sub(" ", text).replace("$$", "$").translate(_REWORD)
    text = _ENTITY.sub("and ", _LOOSE_UNDERSCORE.sub(" ", text))
    return " ".join(text.split())


def html_attribute(text: str, quote: str = '"') -> str:
    """The attribute value, without the quotes, for a value quoted with ``quote``."""
    value = plain(text).replace("&", "&amp;")
    return value.replace('"', "&quot;") if quote == '"' else value.replace("'", "&#39;")


def markdown_label(text: str) -> str:
    """The text of a Markdown image label (between ``![`` and ``]``): ``plain`` leaves nothing
    any dialect would read as markup, so no backslash is needed."""
    return plain(text)


def shortcode_value(text: str) -> str:
    """A Hugo shortcode parameter value, without the double quotes: Hugo reads ``\\"``."""
    return plain(text).replace('"', '\\"')


_TERMINAL_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


_LONG_DATA_URI = re.compile(r"(data:[^\s\"',;]*[;,][^\s\"')]{40})[^\s\"')]{20,}")


def _shorter(match: re.Match[str]) -> str:
    return f"{match.group(1)}…({len(match.group())} characters)"


def terminal(text: str, limit: int = 1000) -> str:
    """Text from a file or a model, for a terminal or a log: control and invisible characters
    shown as escapes (an ESC sequence or an OSC 8 link cannot act, U+202E cannot reorder the
    line), a ``data:`` URI cut to its start, and anything longer than ``limit`` shortened."""
    text = _LONG_DATA_URI.sub(_shorter, text)
    if len(text) > limit:
        text = f"{text[: limit - 40]}…({len(text)} characters)"
    return _TERMINAL_UNSAFE.sub(lambda m: repr(m.group())[1:-1], text)


def line(template: str, **fields: object) -> str:
    """A message with every text field made safe for the terminal (numbers go as they are)."""
    return template.format(**{k: terminal(v) if isinstance(v, str) else v for k, v in fields.items()})
