"""Quality measures for alt text, shared by the grounding benchmark and ``alttext eval``.

- Key element recall (KER): the share of a dataset's key elements that the text mentions. An
  element is a word or phrase, or a list of synonyms; English compares stemmed words
  (sits / sitting), Chinese by substring.
- Invented share: the share of the text's content words that appear in no evidence (the captions,
  the page context, the dataset's reference captions): a proxy for invented details.

Both deliberately use plain stems only, not the grounding guard's synonym and general-word
tables: a measure of the guard must not share its judgement. A paraphrase that none of the
references uses counts as invented here, so the measure errs towards reporting too much.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from alttext.pipeline import grounding
from alttext.pipeline.words import stem

PASS_KER = 0.83
_WORD = re.compile(r"[a-z]+|\d+")
_CJK = re.compile(r"[\u3400-\u9fff]")

Element = str | Sequence[str]  # a word or phrase, or synonyms of it


def _stems(text: str) -> set[str]:
    return {stem(w) for w in _WORD.findall(text.lower())}


def _mentions(text: str, stems: set[str], phrase: str) -> bool:
    if _CJK.search(phrase):
        return phrase in text
    words = _WORD.findall(phrase.lower())
    return bool(words) and all(stem(w) in stems for w in words)


def key_element_recall(text: str, elements: Sequence[Element]) -> float:
    """The share of ``elements`` that ``text`` mentions (1.0 when there are none)."""
    if not elements:
        return 1.0
    stems = _stems(text)
    found = 0
    for element in elements:
        options = [element] if isinstance(element, str) else list(element)
        found += any(_mentions(text, stems, option) for option in options)
    return found / len(elements)


@dataclass(frozen=True)
class Invented:
    words: tuple[str, ...]  # content words no evidence supports
    content: int  # content words in the text

    @property
    def share(self) -> float:
        return len(self.words) / self.content if self.content else 0.0


def invented(text: str, evidence: Iterable[str]) -> Invented:
    evidence = list(evidence)
    stems = set().union(*(_stems(e) for e in evidence)) if evidence else set()
    joined = "\n".join(evidence)

    def absent(word: str) -> bool:
        return word not in joined if _CJK.search(word) else stem(word.lower()) not in stems

    words = grounding.content_words(text)
    missing = [w for w in words if absent(w)]
    return Invented(tuple(missing), len(words))
