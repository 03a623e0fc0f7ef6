"""From a model's raw output to one line of alt text, and a lint of it against the prompt's rules.

Model output is untrusted text: cleaning keeps only what reads as a description. Lint findings name
the sentence they are in, so the judge can retry, drop that sentence, or fall back to the text
composed from the evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from alttext import escape
from alttext.pipeline.words import function_words

_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"</?(?:think|answer)>", re.IGNORECASE)
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_MARKS = re.compile(r"(\*\*|__|\*|`+|~~)")
_LINE_MARKS = re.compile(r"^\s*(?:#{1,6}\s+|[-*+•]\s+|\d+[.)]\s+|>\s*)", re.MULTILINE)
_LABEL = re.compile(
    r"^\s*(?:final\s+)?(?:alt(?:ernative)?[\s-]*text|alt|description|image description|caption|answer|output|result"
    r"|替代文本|替代文字|图片描述|描述|答案|输出)\s*[:：]\s*",
    re.IGNORECASE,
)
_QUOTES = [("\"", "\""), ("'", "'"), ("“", "”"), ("‘", "’"), ("「", "」"), ("『", "』"), ("《", "》")]
_OPENINGS = {
    "en": re.compile(
        r"^(?:here is (?:the|an?) (?:alt text|description)[^:]*:\s*"
        r"|(?:this|the) (?:image|picture|photo|photograph|illustration|graphic|screenshot)"
        r" (?:shows|depicts|features|displays|contains|presents|is of|captures)\s+"
        r"|in (?:this|the) (?:image|picture|photo|photograph),?\s+"
        r"|(?:an? )?(?:image|picture|photo|photograph) (?:of|showing)\s+)",
        re.IGNORECASE,
    ),
    "zh": re.compile(r"^(?:这张|这幅|该)?(?:图片|图像|照片|画面|图)(?:中)?(?:显示了?|展示了?|描绘了?|呈现了?|是|里|中|上)[，,：:]?"),
}
_SENTENCE_END = {"en": re.compile(r"(?<=[.!?])\s+"), "zh": re.compile(r"(?<=[。！？])")}
_TERMINAL = {"en": ".!?", "zh": "。！？"}

# The prompt's rules, as words and patterns to look for. English first; add a language here.
_METAPHOR = {
    "en": re.compile(r"\b(?:like an?|as if|as though|reminiscent of|resembl\w*|evok\w*|a sea of|a blanket of|seems? to)\b", re.IGNORECASE),
    "zh": re.compile(r"像|仿佛|宛如|好像|犹如|如同|似乎"),
}
_SUBJECTIVE = {
    "en": re.compile(
        r"\b(?:beautiful\w*|stunning|gorgeous|amazing|breathtaking|lovely|cute|adorable|peaceful|serene|vibrant"
        r"|majestic|elegant|charming|picturesque|striking|impressive|nice|pretty|ugly|perfect|wonderful|cozy|cosy"
        r"|dramatic|mysterious|magical|happy|sad|joyful|delightful|inviting|mischie\w*|whimsical|idyllic)\b",
        re.IGNORECASE,
    ),
    "zh": re.compile(r"美丽|漂亮|迷人|壮观|可爱|温馨|宁静|优雅|神秘|令人惊叹|绚丽|美好|开心|快乐|悲伤|梦幻"),
}
_MEASUREMENT = {
    "en": re.compile(
        r"\b\d+(?:[.,]\d+)?\s?(?:mm|cm|m|km|meters?|metres?|inch(?:es)?|in|ft|feet|foot|yards?|miles?|kg|g|lbs?"
        r"|pounds|ounces|oz|percent|degrees|°[CF]?|mph|km/h|px|pixels)\b|\b\d+(?:[.,]\d+)?\s?%|\d+\s?°",
        re.IGNORECASE,
    ),
    "zh": re.compile(r"\d+(?:\.\d+)?\s?(?:毫米|厘米|米|公里|千米|千克|公斤|克|斤|度|％|%|英寸|英尺)"),
}
_DATE = {
    "en": re.compile(
        r"\b(?:1[6-9]|20)\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b"
        r"|\b(?:January|February|March|April|June|July|August|September|October|November|December)\b",
    ),
    "zh": re.compile(r"\d{2,4}\s?年|\d{1,2}\s?月\s?\d{1,2}\s?日"),
}

# Proper names (rule 5: no brand or personal names). English: a capitalised word inside a sentence
# ("a dog named Max", "a Nike shoe") or a word with an inner capital ("an iPhone"). Chinese: a Latin
# word with a capital letter ("耐克Nike", "iPhone"); Chinese personal names cannot be told from other
# words without a name list, and are not looked for. A name the picture or the page itself gives
# (an SVG's text, the heading) is the author's, not the writer's, and is allowed.
_NAME = {
    "en": re.compile(r"(?<=[\s,;(])(?:[A-Z][a-z]+|[a-z]+[A-Z][A-Za-z]*)(?:['’-][A-Za-z]+)*"),
    "zh": re.compile(r"(?=[A-Za-z]{2})[A-Za-z]*[A-Z][A-Za-z]*"),
}


# Nationality and language adjectives: capitalised, but not names ("a Chinese sign", "French bread").
_DEMONYMS = frozenset(
    "African American Arabic Asian Australian Brazilian British Canadian Chinese Danish Dutch Egyptian English European"
    " Finnish French German Greek Indian Indonesian Irish Italian Japanese Korean Latin Mexican Norwegian Persian Polish"
    " Portuguese Russian Scottish Spanish Swedish Swiss Thai Turkish Ukrainian Vietnamese Welsh".split()
)
# An answer that repeats this many words of the instructions or examples in a row (English), or this
# many characters (Chinese), copied them instead of describing the picture.
ECHO_WORDS, ECHO_CHARS = 6, 8


@dataclass(frozen=True)
class LintFinding:
    rule: str  # metaphor, subjective, measurement, date, name, opening, too-long, too-short
    detail: str  # the words at fault, or the length
    sentence: int  # index into sentences(text); -1 for the whole text

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


def _strip_quotes(text: str) -> str:
    for left, right in _QUOTES:
        if len(text) >= 2 and text.startswith(left) and text.endswith(right) and left not in text[1:-1]:
            return text[1:-1].strip()
    return text


def sentences(text: str, language: str) -> list[str]:
    return [s for s in (p.strip() for p in _SENTENCE_END[language].split(text)) if s]


def _join(parts: list[str], language: str) -> str:
    return ("" if language == "zh" else " ").join(parts)


def clean(raw: str, language: str = "en", maximum: int | None = None) -> str:
    """One line of plain alt text from a model's answer ('' when nothing usable is left)."""
    text = _THINK.sub("", raw)
    if "</think>" in text.lower():  # a close with no open: the reasoning came before it
        text = text[text.lower().rindex("</think>") + len("</think>") :]
    answer = _ANSWER.search(text)
    if answer:
        text = answer.group(1)
    text = _TAG.sub("", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _LINE_MARKS.sub("", text)
    text = _MD_MARKS.sub("", text)
    # One line of text as it will be written (escape.plain): terminal escape sequences, controls,
    # invisible characters and template delimiters go before the lint reads "31m" as metres.
    text = escape.plain(text)
    for _ in range(3):  # labels, quotes and openings can nest: 'Alt text: "This image shows …"'
        before = text
        text = _strip_quotes(_LABEL.sub("", text).strip())
        text = _OPENINGS[language].sub("", text).strip()
        if text == before:
            break
    if language == "en" and text[:1].islower():
        text = text[0].upper() + text[1:]
    return _fit(text, language, maximum)


def _fit(text: str, language: str, maximum: int | None) -> str:
    """End on a full sentence, within ``maximum`` characters where the first sentence allows."""
    if not text:
        return text
    terminal = _TERMINAL[language]
    parts = sentences(text, language)
    if len(parts) > 1 and parts[-1][-1] not in terminal:
        parts = parts[:-1]  # an unfinished last sentence (generation stopped mid-way)
    if maximum:
        while len(parts) > 1 and len(_join(parts, language)) > maximum:
            parts = parts[:-1]
    text = _join(parts, language)
    if maximum and len(text) > maximum:
        # One sentence longer than the budget: cut at a word boundary, keep it a sentence.
        cut = text[: maximum - 1]
        if language == "en" and " " in cut:
            cut = cut[: cut.rindex(" ")]
        text = cut.rstrip(" ,;:，；：")
    if text[-1] not in terminal:
        text += "。" if language == "zh" else "."
    return text


def lint(text: str, language: str, minimum: int, maximum: int, given: str = "") -> list[LintFinding]:
    """Where ``text`` breaks the prompt's rules. ``given``: text whose names are allowed (the
    picture's own text, the page context)."""
    found: list[LintFinding] = []
    checks = (("metaphor", _METAPHOR), ("subjective", _SUBJECTIVE), ("measurement", _MEASUREMENT), ("date", _DATE))
    allowed = set(re.findall(r"[A-Za-z]+(?:['’-][A-Za-z]+)*", given))
    plain_given = " ".join(given.split()).lower()
    for i, sentence in enumerate(sentences(text, language)):
        matched: list[str] = []
        for rule, patterns in checks:
            for m in patterns[language].finditer(sentence):
                matched.append(m.group(0))
                # A date or a measurement the picture itself shows (visible text, a caption) is a fact.
                if rule in ("measurement", "date") and " ".join(m.group(0).split()).lower() in plain_given:
                    continue
                found.append(LintFinding(rule, m.group(0), i))
        first = re.match(r"[\W_]*([A-Za-z]+)", sentence)
        for m in _NAME[language].finditer(sentence):
            name = m.group(0)
            if first is not None and m.start() == first.start(1):
                continue  # a sentence's first word is capitalised anyway
            if name in allowed or name in _DEMONYMS or any(name in other for other in matched):  # "July" is a date already
                continue
            found.append(LintFinding("name", name, i))
        if _OPENINGS[language].match(sentence) or _LABEL.match(sentence):
            found.append(LintFinding("opening", sentence.split()[0] if language == "en" else sentence[:6], i))
    if len(text) > maximum:
        found.append(LintFinding("too-long", f"{len(text)} characters, at most {maximum}", -1))
    elif len(text) < minimum:
        found.append(LintFinding("too-short", f"{len(text)} characters, at least {minimum}", -1))
    return found


def drop_sentences(text: str, language: str, findings: list[LintFinding]) -> str:
    """``text`` without the sentences that findings point at ('' if none would be left)."""
    bad = {f.sentence for f in findings if f.sentence >= 0}
    return _join([s for i, s in enumerate(sentences(text, language)) if i not in bad], language)


def echo(text: str, instructions: str, evidence: str, language: str) -> LintFinding | None:
    """A finding when ``text`` copies a run of the prompt's instructions or examples: six words in a
    row (eight Chinese characters) of them, of which at least two words (three characters) carry
    content that the picture's own evidence and page (``evidence``) do not. Framing words ("the
    text", "界面截图") and the picture's own words may repeat; "a brown horse stands" from an
    example may not."""

    if language == "zh":
        plain = "".join(text.split())
        source, own = "".join(instructions.split()), set(evidence)
        framing = function_words("zh")
        for k in range(len(plain) - ECHO_CHARS + 1):
            piece = plain[k : k + ECHO_CHARS]
            novel = [c for c in piece if "\u3400" <= c <= "\u9fff" and c not in own and c not in framing]
            if piece in source and len(novel) >= 3:
                return LintFinding("prompt-echo", piece, -1)
        return None
    words = re.findall(r"[a-z0-9]+", text.lower())
    source = " " + " ".join(re.findall(r"[a-z0-9]+", instructions.lower())) + " "
    own, framing = set(re.findall(r"[a-z0-9]+", evidence.lower())), function_words("en")
    for k in range(len(words) - ECHO_WORDS + 1):
        run = words[k : k + ECHO_WORDS]
        novel = [w for w in run if w not in own and w not in framing]
        if f" {' '.join(run)} " in source and len(novel) >= 2:
            return LintFinding("prompt-echo", " ".join(run), -1)
    return None


def scrub(text: str, language: str) -> str:
    """An English caption without the subjective words the prompt forbids ("a pretty lady" ->
    "a lady"), for a caption used as it is. Other languages are left as they are: taking a word out
    of a Chinese phrase leaves its particle behind."""
    return " ".join(_SUBJECTIVE["en"].sub("", text).split()) if language == "en" else text
