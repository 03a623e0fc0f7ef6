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
import html.entities
import re
import unicodedata

# Terminal escape sequences (colours, OSC 8 links, titles): not text.
_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x9b[0-?]*[ -/]*[@-~]")
# A complete character reference. Only these are decoded (and, once decoded, none is left to be
# decoded again): "&region=" in a URL is text, as CommonMark reads it, not "®ion=".
_REFERENCE = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_NAMED = frozenset(name for name in html.entities.html5 if name.endswith(";"))
# HTML a model may answer in: its tags go, their text stays. <Ctrl> is not one, and stays as text.
_ELEMENTS = (
    "a|abbr|answer|article|aside|audio|b|base|blockquote|body|br|button|canvas|caption|code|dd|del|details|div|dl|dt|em"
    "|embed|figcaption|figure|footer|form|h[1-6]|head|header|hr|html|i|iframe|img|input|ins|kbd|label|li|link|main|mark"
    "|math|meta|nav|object|ol|option|p|picture|pre|q|s|samp|script|section|select|small|source|span|strong|style|sub"
    "|summary|sup|svg|table|tbody|td|template|textarea|th|thead|think|title|tr|u|ul|var|video"
)
_TAG = re.compile(rf"<!--.*?(?:-->|$)|</?(?:{_ELEMENTS})(?:\s[^<>]*)?/?>", re.IGNORECASE | re.DOTALL)
# Template and expression delimiters, Liquid (with its whitespace control) and Hugo shortcodes.
_TEMPLATE = re.compile(r"\{\{-?[<%]?|[>%]?-?\}\}|\{%-?|-?%\}")
# < and > open a tag, an autolink or JSX in some dialect: the comparisons and arrows they write
# become their own signs, and a lone one its full-width form, which screen readers read the same.
_SIGNS = (("<=>", "⇔"), ("<->", "↔"), ("<=", "≤"), (">=", "≥"), ("->", "→"), ("<-", "←"), ("=>", "⇒"), ("<", "＜"), (">", "＞"))
_REWORD = str.maketrans({"[": "(", "]": ")", "{": "(", "}": ")", "`": "'", "|": "/"})
# A backslash before ASCII punctuation is an escape (the character is meant); any other is a
# separator. Either way none is written: kramdown and older Hugo would show it to the reader.
_ESCAPE = re.compile(r"\\+([!-/:-@\[-`{-~])?")
# An underscore that could open or close emphasis (one inside a word cannot).
_LOOSE_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")


def _decode(match: re.Match[str]) -> str:
    name = match.group(1)
    return html.unescape(match.group()) if name.startswith("#") or name + ";" in _NAMED else match.group()


def _break_reference(match: re.Match[str]) -> str:
    name = match.group(1)
    return "& " + match.group()[1:] if name.startswith("#") or name + ";" in _NAMED else match.group()


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
    template, no escape. ``plain(plain(t)) == plain(t)``."""
    text = _REFERENCE.sub(_decode, _SEQUENCE.sub("", text))
    text = _visible(_TAG.sub(" ", text))
    while True:  # removing one delimiter can join the halves of another
        stripped = _TEMPLATE.sub(" ", text)
        if stripped == text:
            break
        text = stripped
    for sign, written in _SIGNS:
        text = text.replace(sign, written)
    text = _ESCAPE.sub(lambda m: m.group(1) or "/", text.translate(_REWORD))
    # * _ ~ are markup only in pairs (emphasis, strikethrough): one alone stays.
    for mark in ("*", "~"):
        if text.count(mark) > 1:
            text = text.replace(mark, " ")
    if len(_LOOSE_UNDERSCORE.findall(text)) > 1:
        text = _LOOSE_UNDERSCORE.sub(" ", text)
    text = re.sub(r"\$\$+", "$", text)  # $$ opens kramdown math
    text = _REFERENCE.sub(_break_reference, text)  # "&amp;" meant as text is not decoded on the way
    return re.sub(r"^[\s^]+", "", " ".join(text.split()))  # ![^ is a footnote in kramdown


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
