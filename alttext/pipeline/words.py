"""The word lists the grounding guard and the cleaning share (``grounding.toml``): the words that
carry no visual claim, irregular forms, synonym groups, general words and what they cover, and
the Chinese terms with their English keys; and the light English stemmer that keys them."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources


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
def lists() -> _Lists:
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
    loaded = lists()
    return loaded.function if language == "en" else frozenset("".join(loaded.zh_function))


def key(word: str) -> str:
    """The comparison key of an English word: irregular forms, stem, synonym group."""
    loaded = lists()
    s = stem(loaded.irregular.get(word, word))
    return loaded.canonical.get(s, s)
