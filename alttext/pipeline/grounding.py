"""The grounding guard: every content word of the alt text must be supported by the evidence.

The writer is a text model; it cannot see the picture. Asked for colours, materials and positions
that the caption does not give, a small model invents them ("her eyes glowing with a hint of
mischief"), and a blind reader cannot tell an invented detail from a true one. So each sentence is
checked against the evidence (the base captions, an SVG's text, the page context): a content word
that the evidence does not support makes the sentence unsupported.

- English: a content word is any word outside a list of function and framing words. Words are
  compared after a light stemmer (sits / sitting / sat -> sit) and a small synonym table (couch =
  sofa, pair = two); a general word is supported by a specific one ("person" by "man"), never the
  reverse.
- Chinese: no word segmentation is shipped, so the sentence is split by longest match against a
  list of Chinese words (each with its English meaning, so an English BLIP caption can support it)
  and of particles and measure words; the pieces left over must appear as they are in the Chinese
  evidence.

The lists live in ``grounding.toml`` next to this module. The guard is deliberately strict: a
paraphrase it does not know costs a sentence (the caption stays), an invention it lets through
costs the reader the truth.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

from alttext.pipeline.clean import LintFinding, sentences

_EN_WORD = re.compile(r"[a-z]+|\d+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
# What a caption's subject is framed with: "a close up of a group of people" -> people.
_FRAME = re.compile(
    r"^\s*(?:(?:a|an|the|one|there\s+(?:is|are))\s+)?(?:(?:close[\s-]*up|closeup|picture|photo|photograph|image|view"
    r"|drawing|painting|screenshot|illustration|group|pair|couple|bunch|set|number|row|pile|stack|herd|flock|lot)\s+of\s+)",
    re.IGNORECASE,
)
# Words that describe a subject rather than name it: the subject check wants a noun.
_DESCRIBING = frozenset(
    "red orange yellow green blue purple pink brown black white gray gold silver large small big little young old"
    " tall short long round wood metal glass two three four five six".split()
)
_ZH_SUBJECT_END = re.compile(r"在|正在|着|[，。,.;；]")


@dataclass(frozen=True)
class _Lists:
    function: frozenset[str]
    irregular: dict[str, str]
    canonical: dict[str, str]  # stem -> the stem naming its synonym group
    general: dict[str, frozenset[str]]  # key -> the general keys it supports
    zh_function: frozenset[str]
    zh_terms: dict[str, tuple[str, ...]]  # Chinese word -> English keys
    zh_longest: int


def stem(word: str) -> str:
    """A light English stemmer: the same key for the inflections a caption and a paraphrase use."""
    w = word
    if len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 5 and w.endswith("ing"):
        w = w[:-3]
    elif len(w) > 4 and w.endswith("ed"):
        w = w[:-2]
    elif len(w) > 4 and w.endswith("es") and (w[-3] in "sxz" or w[-4:-2] in ("ch", "sh")):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if len(w) > 4 and w.endswith("y") and w[-2] not in "aeiou":
        w = w[:-1]  # grassy -> grass, cloudy -> cloud
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz":
        w = w[:-1]  # running -> runn -> run
    return w


@cache
def _lists() -> _Lists:
    data = tomllib.loads(resources.files("alttext.pipeline").joinpath("grounding.toml").read_text("utf-8"))
    en, zh = data["en"], data["zh"]
    irregular = dict(en["irregular"])

    def plain(word: str) -> str:
        return stem(irregular.get(word, word))

    canonical: dict[str, str] = {}
    for group in en["synonyms"]["groups"]:
        head = plain(group[0])
        for word in group:
            canonical[plain(word)] = head

    def key(word: str) -> str:
        s = plain(word)
        return canonical.get(s, s)

    general: dict[str, set[str]] = {}
    for name, specifics in en["general"].items():
        for word in specifics:
            general.setdefault(key(word), set()).add(key(name))
    terms = {term: tuple(key(w) for w in words) for term, words in zh["terms"].items()}
    zh_function = frozenset(zh["function"].split())
    return _Lists(
        function=frozenset(en["function"].split()),
        irregular=irregular,
        canonical=canonical,
        general={k: frozenset(v) for k, v in general.items()},
        zh_function=zh_function,
        zh_terms=terms,
        zh_longest=max(len(t) for t in [*terms, *zh_function]),
    )


def function_words(language: str) -> frozenset[str]:
    """The words (English) or characters (Chinese) that carry no visual claim."""
    lists = _lists()
    return lists.function if language == "en" else frozenset("".join(lists.zh_function))


def key(word: str) -> str:
    """The comparison key of an English word: irregular forms, stem, synonym group."""
    lists = _lists()
    s = stem(lists.irregular.get(word, word))
    return lists.canonical.get(s, s)


def _english(text: str) -> list[tuple[str, str]]:
    """(word, key) for the English content words of ``text``."""
    function = _lists().function
    return [(w, key(w)) for w in _EN_WORD.findall(text.lower()) if len(w) > 1 and w not in function]


def _chinese(text: str) -> list[tuple[str, tuple[str, ...] | None]]:
    """The Chinese content pieces of ``text``: (word, English keys) for known words, (piece, None)
    for what is left between known words and particles."""
    lists = _lists()
    out: list[tuple[str, tuple[str, ...] | None]] = []
    for run in _CJK.findall(text):
        i, rest = 0, ""
        while i < len(run):
            for size in range(min(lists.zh_longest, len(run) - i), 0, -1):
                piece = run[i : i + size]
                if piece in lists.zh_terms or piece in lists.zh_function:
                    if rest:
                        out.append((rest, None))
                        rest = ""
                    if piece in lists.zh_terms:
                        out.append((piece, lists.zh_terms[piece]))
                    i += size
                    break
            else:
                rest += run[i]
                i += 1
        if rest:
            out.append((rest, None))
    return out


@dataclass(frozen=True)
class Evidence:
    """What is known to be true of the picture, as comparison keys and Chinese text."""

    keys: frozenset[str]
    chinese: str


def evidence(texts: Iterable[str]) -> Evidence:
    lists = _lists()
    keys: set[str] = set()
    chinese: list[str] = []

    def add(k: str) -> None:
        keys.add(k)
        keys.update(lists.general.get(k, ()))

    for text in texts:
        for word in _EN_WORD.findall(text.lower()):
            add(key(word))
        chinese.extend(_CJK.findall(text))
        for _, meaning in _chinese(text):
            for k in meaning or ():
                add(k)
    return Evidence(frozenset(keys), "\n".join(chinese))


def content_words(text: str) -> list[str]:
    """The words of ``text`` that make a claim about the picture, in order (Chinese: pieces)."""
    return [w for w, _ in _english(text)] + [piece for piece, _ in _chinese(text)]


def unsupported(sentence: str, found: Evidence) -> list[str]:
    """The content words of ``sentence`` that ``found`` does not support, in order, once each."""
    words = [w for w, k in _english(sentence) if k not in found.keys]
    for piece, meaning in _chinese(sentence):
        if piece in found.chinese or (meaning is not None and any(k in found.keys for k in meaning)):
            continue
        words.append(piece)
    return list(dict.fromkeys(words))


def findings(text: str, language: str, found: Evidence, known: Iterable[LintFinding] = ()) -> list[LintFinding]:
    """One ``unsupported`` finding per sentence with a word the evidence does not support, leaving
    out words that ``known`` findings (lint) already name in that sentence."""
    named = {(f.sentence, f.detail.lower()) for f in known}
    out = []
    for i, sentence in enumerate(sentences(text, language)):
        words = [w for w in unsupported(sentence, found) if (i, w.lower()) not in named]
        if words:
            out.append(LintFinding("unsupported", ", ".join(words), i))
    return out


def _keys(text: str) -> set[str]:
    keys = {k for _, k in _english(text)}
    keys.update(k for piece, meaning in _chinese(text) for k in (meaning or (f"zh:{piece}",)))
    return keys


def subject(caption: str) -> frozenset[str]:
    """Keys that name what the caption is about: its first noun phrase, with the general words
    that phrase supports. Empty when the caption names nothing."""
    if _CJK.search(caption):
        head = _ZH_SUBJECT_END.split(caption.strip(), maxsplit=1)[0]
        named = _keys(head)
    else:
        text = caption.lower()
        while (m := _FRAME.match(text)) is not None:
            text = text[m.end() :]
        named = set()
        function = _lists().function
        for word in _EN_WORD.findall(text):
            if word in ("a", "an", "the", "and"):
                continue
            if word in function or (named and len(word) > 4 and word.endswith("ing")):
                break
            named.add(key(word))
        nouns = named - _DESCRIBING
        named = nouns or named
    general = _lists().general
    return frozenset(named | {g for k in named for g in general.get(k, ())})


def names_subject(text: str, caption: str) -> bool:
    """Does ``text`` still say what the caption is about?"""
    wanted = subject(caption)
    if not wanted:
        return bool(text.strip())
    return bool(_keys(text) & wanted)
