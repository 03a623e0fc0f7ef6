"""The judge: what an alt text is held to, and what becomes of an answer that falls short.

One object (``Judge``, from the settings) owns the length budget and the grounding decision. It
writes the prompt to that budget, checks each of the writer's answers (clean, lint, prompt echo,
language, the visible text and the subject, the grounding guard), and settles each listing: the
first answer that breaks no rule, else the last one without its offending sentences while the
rest still stands, else the alt text composed from the evidence alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from alttext import messages
from alttext.model import Settings
from alttext.pipeline import clean as cleaning
from alttext.pipeline import grounding
from alttext.pipeline.clean import LintFinding
from alttext.pipeline.evidence import Evidence, visible_items
from alttext.pipeline.evidence import compose as compose_text
from alttext.pipeline.prompt import Budget, budget, build_messages, feedback_lines, instructions
from alttext.pipeline.records import Decision, Job

# Kinds a caption describes (a second caption can help, and an answer must name its subject): the
# others are read from their text.
CAPTIONED_KINDS = ("", "photo", "illustration")
# Kinds whose visible text is what the picture is for.
_TEXT_KINDS = ("screenshot", "chart", "diagram", "logo", "text")
# The share of the visible text an answer about one of those must keep (of what fits in the budget).
KEEP_TEXT = 0.6
# Findings about the whole answer: it is not kept in part.
_WHOLE = ("empty", "prompt-echo", "language", "missing-text", "subject")

Judged = tuple[str, list[LintFinding]]  # a cleaned answer and what is wrong with it


@dataclass
class Draft:
    """A job's conversation with the writer, and the writer's answers as judged."""

    job: Job
    messages: list[dict[str, str]]
    found: grounding.Evidence
    given: str  # the evidence and page text whose names, dates and words an answer may repeat
    own: str  # the picture's own facts (without their labels) and page text: what an answer may repeat
    feedback: tuple[str, ...] = ()
    answers: list[str] = field(default_factory=list)
    judged: list[Judged] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """The last answer breaks a rule."""
        return bool(self.judged[-1][1])


@dataclass(frozen=True)
class Judge:
    """The length budget and the grounding decision, from the settings (``from_settings``)."""

    length: int | None  # characters to aim for; None: the language's own default
    grounding: str
    language_fallback: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> Judge:
        return cls(settings.length or None, settings.grounding, settings.language_fallback)

    def budget(self, language: str, evidence: Evidence | None = None) -> Budget:
        """The length budget; with ``evidence``, its minimum follows how much there is to say."""
        return budget(language, self.length, None if evidence is None else evidence.size(language))

    def draft(self, job: Job) -> Draft:
        """The first conversation with the writer about ``job``."""
        page = [v for _, v in job.context.items()]
        texts = [*job.evidence.texts(job.language), *page]
        own = [*job.evidence.values(job.language), *page]
        return Draft(job, self._prompt(job), grounding.evidence(texts), "\n".join(texts), "\n".join(own))

    def redraft(self, draft: Draft) -> None:
        """The retry's prompt, which also says what was wrong (an answer must not copy that either)."""
        draft.feedback = feedback_lines([(f.rule, f.detail) for f in draft.judged[-1][1]], draft.job.language)
        draft.messages = self._prompt(draft.job, draft.feedback)

    def _prompt(self, job: Job, feedback: tuple[str, ...] = ()) -> list[dict[str, str]]:
        return build_messages(job.evidence, job.context, job.language, self.length, feedback)

    def assess(self, raw: str, draft: Draft) -> Judged:
        """The cleaned answer and what is wrong with it."""
        job = draft.job
        b = self.budget(job.language, job.evidence)
        text = cleaning.clean(raw, job.language, b.maximum)
        if not text:
            return text, [LintFinding("empty", "no text", -1)]
        findings = cleaning.lint(text, job.language, b.minimum, b.maximum, draft.given)
        findings += _echo(text, draft) + _language(text, job)
        if self.grounding != "off":  # what the evidence says must be said: its visible text, its subject
            findings += _unsaid(text, job.evidence, job.language, b.maximum)
        if self.grounding == "strict":
            findings += grounding.findings(text, job.language, draft.found, known=findings)
        return text, findings

    def settle(self, draft: Draft) -> Decision:
        """The first answer that breaks no rule, else the last one without its offending
        sentences, else the text composed from the evidence."""
        log: tuple[str, ...] = ()
        for k, (text, findings) in enumerate(draft.judged):
            if not findings:
                return self._accepted(draft, k, log)
            log += tuple(str(f) for f in findings)
        trimmed = self._trimmed(draft, log)
        if trimmed is not None:
            return trimmed
        text = draft.judged[-1][0]
        return self.compose(draft.job, lint=log, rejected=tuple(draft.answers), dropped=(text,) if text else ())

    def _accepted(self, draft: Draft, k: int, log: tuple[str, ...]) -> Decision:
        """Answer ``k``, which breaks no rule (the lenient guard keeps it, marked for review)."""
        text, job = draft.judged[k][0], draft.job
        loose = grounding.findings(text, job.language, draft.found) if self.grounding == "lenient" else []
        return Decision(text=text, lint=log + tuple(str(f) for f in loose), rejected=tuple(draft.answers[:k]),
                       needs_review=bool(loose), notes=notes(job, text))

    def _trimmed(self, draft: Draft, log: tuple[str, ...]) -> Decision | None:
        """The last answer without the sentences that broke a rule, where the rest stands (a length
        finding alone keeps the text as it is, for a person to review); else None."""
        text, findings = draft.judged[-1]
        job = draft.job
        why: dict[int, list[str]] = {}
        for f in findings:
            if f.sentence >= 0:
                why.setdefault(f.sentence, []).append(str(f))
        rest = cleaning.drop_sentences(text, job.language, findings) if why else text
        # With the guard on, what is left must still say what the picture is of.
        named = self.grounding != "strict" or grounding.names_subject(rest, job.evidence.caption)
        if not rest or not named or any(f.rule in _WHOLE for f in findings):
            return None
        sentences = cleaning.sentences(text, job.language)
        dropped = tuple(f"{s} ({'; '.join(why[k])})" for k, s in enumerate(sentences) if k in why)
        return Decision(text=rest, lint=log, dropped=dropped, rejected=tuple(draft.answers[:-1]), needs_review=True, notes=notes(job, rest))

    def compose(self, job: Job, needs_review: bool = True, lint: tuple[str, ...] = (), rejected: tuple[str, ...] = (),
                dropped: tuple[str, ...] = ()) -> Decision:
        """The alt text composed from the evidence alone, in the page's language; or, where that
        cannot be made, none (or another language's, where ``language_fallback`` allows it)."""
        why = {"lint": lint, "rejected": rejected, "dropped": dropped}
        text = compose_text(job.evidence, job.language, self.budget(job.language).maximum, job.context.link_target)
        said = notes(job, text)
        if text:
            return Decision(text=text, needs_review=needs_review, notes=said, **why)
        other = "en" if job.language == "zh" else "zh"
        if self.language_fallback:
            text = compose_text(job.evidence, other, self.budget(other).maximum, job.context.link_target)
        if text:
            return Decision(text=text, needs_review=True, notes=(*said, messages.OTHER_LANGUAGE.format(language=other)), **why)
        reason = messages.NO_TEXT_IN_LANGUAGE if job.language == "zh" and job.evidence.caption else messages.NO_EVIDENCE
        return Decision(needs_review=True, reason=reason, notes=said, **why)


def notes(job: Job, text: str) -> tuple[str, ...]:
    """What the person reviewing should know: evidence that could not be gathered, and a chart or
    diagram with more visible text than its alt text holds, which needs a long description."""
    if job.evidence.kind in ("chart", "diagram") and job.evidence.text:
        missing = [t.text for t in job.evidence.text if t.text not in text]
        if len(missing) > len(job.evidence.text) / 2:
            return (*job.warnings, messages.LONG_DESCRIPTION.format(kind=job.evidence.kind))
    return job.warnings


def _echo(text: str, draft: Draft) -> list[LintFinding]:
    """A finding where the answer copies the instructions, examples or feedback."""
    found = cleaning.echo(text, "\n".join([instructions(draft.messages), *draft.feedback]), draft.own, draft.job.language)
    return [found] if found is not None else []


def _language(text: str, job: Job) -> list[LintFinding]:
    """A finding where the answer is not in the page's language, or leaves English words in Chinese."""
    if not _in_language(text, job.language):
        return [LintFinding("language", messages.NOT_IN_LANGUAGE[job.language], -1)]
    untranslated = _untranslated(text, job) if job.language == "zh" else []
    return [LintFinding("language", f"{messages.UNTRANSLATED}: {', '.join(untranslated)}", -1)] if untranslated else []


def _unsaid(text: str, evidence: Evidence, language: str, maximum: int) -> list[LintFinding]:
    """Findings for what the evidence says and the answer must say: its visible text, its subject."""
    out = []
    missing = _missing_text(text, evidence, language, maximum)
    if missing:
        out.append(LintFinding("missing-text", "; ".join(missing[:4]), -1))
    caption = evidence.caption
    if evidence.kind in CAPTIONED_KINDS and caption and not grounding.names_subject(text, caption):
        out.append(LintFinding("subject", caption, -1))
    return out


def _missing_text(text: str, evidence: Evidence, language: str, maximum: int) -> list[str]:
    """The visible text ``text`` leaves out, when it leaves out too much of it (else [])."""
    if evidence.kind not in _TEXT_KINDS:
        return []
    items = visible_items(evidence, language, maximum)
    said = _plain(text)
    missing = [item for item in items if _plain(item) not in said]
    return missing if items and len(items) - len(missing) < KEEP_TEXT * len(items) else []


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[\"“”'‘’「」.,;:!?。，；：！？]", " ", text.lower()).split())


def _untranslated(text: str, job: Job) -> list[str]:
    """English words left in a Chinese answer ("一只 giraffe"): those the picture or page does not
    show as they are (visible text, a name in the file or on the page may stay in Latin letters)."""
    shown = " ".join([*(t.text for t in job.evidence.text), *job.evidence.svg_text, *(v for _, v in job.evidence.metadata),
                      *(v for _, v in job.context.items())]).lower()
    return [w for w in re.findall(r"[A-Za-z]{3,}", text) if w.lower() not in shown]


def _in_language(text: str, language: str) -> bool:
    chinese = sum("\u3400" <= c <= "\u9fff" for c in text)
    letters = sum(c.isalpha() for c in text)
    return chinese >= max(2, letters / 3) if language == "zh" else chinese <= letters / 3
