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
from collections.abc import Iterable
from dataclasses import dataclass

from alttext.pipeline.clean import LintFinding, sentences
from alttext.pipeline.words import key, lists as _lists

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
