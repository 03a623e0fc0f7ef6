"""What counts as a finding: element verdicts, markers, and weak alt text (ALT002)."""

from __future__ import annotations

import functools
import posixpath
import re
from dataclasses import dataclass
from urllib.parse import unquote

from alttext import messages

DECORATIVE_ROLES = frozenset({"presentation", "none"})
# Framework bindings that set alt at run time: Vue, Angular, Alpine.
DYNAMIC_ALT_ATTRS = frozenset({":alt", "v-bind:alt", "[alt]", "[attr.alt]", "x-bind:alt", "bind:alt"})
TEMPLATE_MARKERS = ("{{", "{%", "${", "<%", "{#")
IMAGE_EXTENSION = re.compile(r"\.(?:png|jpe?g|gif|webp|svg|avif|bmp|tiff?|ico|heic)$", re.IGNORECASE)
# An <img>, <input> or <area> start tag, case-insensitively. Spelled with character classes, not
# IGNORECASE, so the pattern keeps its literal "<" prefix and the regex engine can skip between
# candidates: this runs over every byte of every file.
IMAGE_TAG = re.compile(r"<(?:[iI][mM][gG]|[iI][nN][pP][uU][tT]|[aA][rR][eE][aA])(?:[\s/>]|$)", re.MULTILINE)
def may_hold_image(text: str, engine: str) -> bool:
    """Whether a document can hold an image at all; most files without one are never parsed.
    (A Hugo ``figure`` shortcode is an image without ``![`` or a tag.)"""
    return "![" in text or bool(IMAGE_TAG.search(text)) or (engine == "hugo" and "{{" in text)


MARKER = re.compile(r"^\s*alttext:\s*(decorative|ignore)\s*$", re.IGNORECASE)
# <!-- alttext-disable -->, <!-- alttext-enable ALT002 -->, <!-- alttext-disable-file ALT001, ALT003 -->
DIRECTIVE = re.compile(r"^\s*alttext-(disable-file|disable|enable)((?:[\s,]+ALT\d{3})*)\s*$", re.IGNORECASE)
ANY_DIRECTIVE = re.compile(r"^\s*alttext[:-]", re.IGNORECASE)
RULE_IDS = ("ALT001", "ALT002", "ALT003")


@dataclass(frozen=True)
class Verdict:
    rule: str | None  # None: not a finding
    message: str = ""
    alt: str | None = None  # alt as written (None when the attribute is absent)
    decorative: bool = False
    dynamic: bool = False  # set at run time by a template or framework binding


OK = Verdict(None)


def marker_kind(comment: str) -> tuple[str, tuple[str, ...]] | None:
    """What an alttext comment says, as (kind, rules): ``ignore`` or ``decorative`` (the next
    image), ``disable`` or ``enable`` (from here on), ``disable-file``, with the rules it names
    (none: all of them); ``unknown`` for a comment that starts like a directive and is none.
    None for any other comment."""
    m = MARKER.match(comment)
    if m:
        return m.group(1).lower(), ()
    m = DIRECTIVE.match(comment)
    if m:
        rules = tuple(r.upper() for r in re.findall(r"ALT\d{3}", m.group(2), re.IGNORECASE))
        if all(r in RULE_IDS for r in rules):
            return m.group(1).lower(), rules
    if ANY_DIRECTIVE.match(comment):
        return "unknown", (" ".join(comment.split())[:60],)
    return None


def _first(attrs: list[tuple[str, str | None]], name: str) -> tuple[bool, str | None]:
    # Browsers keep the first of duplicated attributes.
    for key, value in attrs:
        if key == name:
            return True, value
    return False, None


def has_accessible_name(attrs: list[tuple[str, str | None]]) -> bool:
    _, label = _first(attrs, "aria-label")
    _, labelledby = _first(attrs, "aria-labelledby")
    return bool((label or "").strip()) or bool((labelledby or "").strip())


def is_hidden(attrs: list[tuple[str, str | None]]) -> bool:
    _, role = _first(attrs, "role")
    _, hidden = _first(attrs, "aria-hidden")
    first_role = (role or "").split()[:1]
    return bool(first_role and first_role[0].lower() in DECORATIVE_ROLES) or (
        (hidden or "").strip().lower() == "true"
    )


def is_dynamic(attrs: list[tuple[str, str | None]], alt: str | None) -> bool:
    if any(key in DYNAMIC_ALT_ATTRS for key, _ in attrs):
        return True
    # A JSX expression (alt={caption}) or a template tag sets alt when the page is built.
    return alt is not None and (any(m in alt for m in TEMPLATE_MARKERS) or (alt[:1] == "{" and alt[-1:] == "}"))


_EMPTY_JSX = re.compile(r"""^\{\s*(?:""|''|``)\s*\}$""")


def jsx_value(value: str | None) -> str | None:
    """``alt={""}`` is an empty alt in JSX; any other expression is kept as written."""
    return "" if value is not None and _EMPTY_JSX.match(value) else value


def html_verdict(tag: str, attrs: list[tuple[str, str | None]]) -> tuple[Verdict, str] | None:
    """The verdict for an HTML start tag, with the src to report; None if it is no image."""
    if tag == "img":
        src = _first(attrs, "src")[1] or ""
        if is_hidden(attrs) or has_accessible_name(attrs):
            return OK, src
        present, alt = _first(attrs, "alt")
        if is_dynamic(attrs, alt):
            return Verdict(None, alt=alt, dynamic=True), src
        if not present:
            return Verdict("ALT001", messages.MISSING.format(src=src)), src
        if not alt:  # alt="" or a bare alt: decorative
            return Verdict(None, alt="", decorative=True), src
        if not alt.strip():
            return Verdict("ALT001", messages.WHITESPACE.format(src=src), alt=alt), src
        return Verdict(None, alt=alt), src
    if tag == "input":
        if (_first(attrs, "type")[1] or "").strip().lower() != "image":
            return None
        return _control_verdict(attrs, _first(attrs, "src")[1] or "", messages.MISSING_INPUT)
    if tag == "area":
        present, href = _first(attrs, "href")
        return _control_verdict(attrs, href or "", messages.MISSING_AREA) if present else None
    return None


def _control_verdict(attrs: list[tuple[str, str | None]], src: str, missing: str) -> tuple[Verdict, str]:
    """Image buttons and map areas are never decorative: they need non-empty alt or a name."""
    alt = _first(attrs, "alt")[1]
    if has_accessible_name(attrs) or is_dynamic(attrs, alt) or (alt or "").strip():
        return Verdict(None, alt=alt), src
    return Verdict("ALT001", missing.format(src=src), alt=alt), src


def markdown_verdict(src: str, alt: str, linked: bool = False) -> Verdict:
    """Markdown has no decorative syntax: empty or whitespace alt is missing (MD045)."""
    if not alt.strip():
        if linked:
            return linked_verdict(src, alt)
        return Verdict("ALT001", messages.MISSING.format(src=src), alt=alt)
    return Verdict(None, alt=alt)


def linked_verdict(src: str, alt: str | None) -> Verdict:
    """An image that is all its link holds names the link: it is never decorative (ALT003)."""
    return Verdict("ALT003", messages.LINKED.format(src=src), alt=alt)


def names_its_link(verdict: Verdict, attrs: list[tuple[str, str | None]]) -> bool:
    """Whether an image gives an enclosing link an accessible name."""
    if has_accessible_name(attrs):
        return not is_hidden(attrs)
    return verdict.rule is None and not verdict.decorative and not is_hidden(attrs) and bool(verdict.alt or verdict.dynamic)


@dataclass(frozen=True)
class WordList:
    vague: frozenset[str]
    placeholders: frozenset[str]
    redundant_prefixes: tuple[str, ...]


@functools.lru_cache(maxsize=None)
def word_list(languages: tuple[str, ...]) -> WordList:
    import tomllib
    from importlib import resources

    vague: set[str] = set()
    placeholders: set[str] = set()
    prefixes: list[str] = []
    for lang in languages:
        data = tomllib.loads(resources.files("alttext.wordlists").joinpath(f"{lang}.toml").read_text("utf-8"))
        vague.update(w.lower() for w in data.get("vague", ()))
        placeholders.update(w.lower() for w in data.get("placeholders", ()))
        prefixes.extend(p.lower() for p in data.get("redundant_prefixes", ()))
    # Longest prefix first, so "an image of" is named rather than "image of".
    return WordList(frozenset(vague), frozenset(placeholders), tuple(sorted(set(prefixes), key=len, reverse=True)))


def available_languages() -> list[str]:
    from importlib import resources

    return sorted(p.name[:-5] for p in resources.files("alttext.wordlists").iterdir() if p.name.endswith(".toml"))


_ARTICLE = re.compile(r"^(?:a|an|the)\s+")


def weak_reason(alt: str, src: str, languages: tuple[str, ...]) -> str | None:
    """Why ``alt`` is weak alt text, or None when it is fine."""
    words = word_list(languages)
    text = " ".join(alt.split()).lower()
    bare = text.rstrip(".!:;,。！：")
    name = posixpath.basename(unquote(src.split("#", 1)[0].split("?", 1)[0])).lower()
    if name and (bare == name or bare == posixpath.splitext(name)[0]):
        return messages.WEAK_FILENAME
    if IMAGE_EXTENSION.search(bare):
        return messages.WEAK_EXTENSION
    if bare in words.placeholders:
        return messages.WEAK_PLACEHOLDER
    if bare in words.vague or _ARTICLE.sub("", bare) in words.vague:
        return messages.WEAK_VAGUE
    for prefix in words.redundant_prefixes:
        if text.startswith(prefix) and (len(text) == len(prefix) or not text[len(prefix)].isalnum() or not prefix.isascii()):
            return messages.WEAK_PREFIX.format(prefix=prefix)
    return None
