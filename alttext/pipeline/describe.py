"""describe(images, contexts, settings) -> one Description per image, in order, batched.

image -> evidence (visible text, kind, authored metadata, tied colours: ``pipeline.evidence``) ->
captions (the captioner backend: BLIP, a vision model on an OpenAI-compatible server, or none; BLIP
adds a second one, decoded with the first, kept where the first leaves out subject, scene or state)
-> the blind-reader editor prompt with worked examples of the same kind -> writer (its backend) ->
clean -> lint, prompt echo, language and the grounding guard -> one retry that says what was wrong
-> drop the offending sentences while the rest still names the subject, or compose an alt text
from the evidence alone.

- A decorative candidate is never described: it comes back with ``decorative`` set, for review.
- A page's language is kept: when no acceptable text in it can be made, the image has no text and
  a reason, unless ``language_fallback`` allows another language.
- Anything the pipeline had to repair is marked ``needs_review``.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from alttext import messages
from alttext.pipeline.images import ImageError, LoadedImage, load_image_file
from alttext.model import Context, Settings
from alttext.pipeline import clean as cleaning
from alttext.pipeline.backends import Captioner, Writer
from alttext.pipeline.cache import Cache, file_sha256, fingerprint
from alttext.pipeline.elements import combined
from alttext.pipeline.evidence import Evidence, compose, gather, ocr, visible_items
from alttext.pipeline.evidence.kind import measure
from alttext.pipeline.prompt import PROMPT_VERSION, budget, build_messages, feedback_lines, instructions, resolve_language
from alttext.pipeline.writer_transformers import seed_for
from alttext.progress import Progress
from alttext.pipeline import backends, grounding

# BLIP continues this text: a second description that often names the place or the action.
SECOND_PASS_PROMPT = "a picture of"
# Kinds a second caption can help: the others are read from their text.
_CAPTIONED_KINDS = ("", "photo", "illustration")
# Findings about the whole answer: it is not kept in part.
_WHOLE = ("empty", "prompt-echo", "language", "missing-text", "subject")


@dataclass(frozen=True)
class Description:
    image: str
    text: str  # the alt text ('' when there is none: see error and reason)
    caption: str  # the base caption, or the SVG's text
    backend: str
    captioner: str
    writer_model: str
    prompt_version: str
    language: str
    kind: str = ""  # photo, screenshot, chart, diagram, text, logo, illustration, decorative
    evidence: tuple[str, ...] = ()  # the facts the text was written from, as the writer saw them
    lint: tuple[str, ...] = ()  # what was wrong with the writer's answers, in order
    dropped: tuple[str, ...] = ()  # sentences removed, and why
    rejected: tuple[str, ...] = ()  # writer answers that were not used
    notes: tuple[str, ...] = ()  # for the person reviewing (a chart that needs a long description)
    bounds: tuple[int, ...] = ()  # (minimum, maximum) characters the text was held to
    decorative: bool = False  # a decorative candidate: propose alt="" for a person to confirm
    needs_review: bool = False
    error: str | None = None  # the image could not be read
    reason: str | None = None  # why there is no text although the image was read
    cached: bool = False  # read from the cache, not generated in this run
    timings: dict[str, float] = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self).items()}


@dataclass
class _Job:
    """One listing of an image on its way through the pipeline."""

    path: str
    context: Context
    language: str
    loaded: LoadedImage | None = None
    error: str | None = None
    rep: int = 0  # the first listing with the same picture (captioned and read once)
    evidence: Evidence = Evidence()
    seed: int = 0
    result: Description | None = None
    twin: _Job | None = None  # an earlier job with the same picture, evidence and page: its text is this one's
    warnings: tuple[str, ...] = ()  # evidence that could not be gathered, for the person reviewing


# Loaded models, one per configuration, kept for the life of the process (fix and watch describe
# many batches).
_LOADED: dict[tuple[Any, ...], Any] = {}


def make_writer(settings: Settings) -> Writer | None:
    """The writer backend ``settings.backend`` names (``backends.WRITERS``), built once per
    configuration; None for ``none``."""
    key = ("writer", *backends.writer_key(settings))
    if key not in _LOADED:
        _LOADED[key] = backends.new_writer(settings)
    return _LOADED[key]


def make_captioner(settings: Settings) -> Captioner | None:
    """The captioner backend the settings name (``backends.CAPTIONERS``), built once per
    configuration; None for ``none``."""
    key = ("captioner", *backends.captioner_key(settings))
    if key not in _LOADED:
        _LOADED[key] = backends.new_captioner(settings)
    return _LOADED[key]


def make_reader(settings: Settings) -> ocr.Reader | None:
    """The OCR reader the settings ask for: ``on`` needs the engine (loading it raises
    ``OCRUnavailable`` when it is missing), ``auto`` uses it when it is installed."""
    if settings.ocr == "off" or (settings.ocr == "auto" and not ocr.available()):
        return None
    if ("ocr",) not in _LOADED:
        _LOADED[("ocr",)] = ocr.Reader()
    return _LOADED[("ocr",)]


def preflight(settings: Settings) -> str | None:
    """Before any image is read: with ``ocr = "on"``, load the OCR engine now (``OCRUnavailable``
    names the extra to install); with ``"auto"`` and no engine, the one line to tell the user."""
    if settings.ocr == "on":
        reader = make_reader(settings)
        assert reader is not None
        reader.load()
    return ocr_note(settings)


def ocr_note(settings: Settings) -> str | None:
    """One line for the user when ``ocr = "auto"`` finds no engine, else None."""
    return messages.OCR_OFF if settings.ocr == "auto" and not ocr.available() else None


def writer_model(settings: Settings) -> str:
    return "" if settings.backend == "none" else settings.writer_model


def describe(
    images: Sequence[str],
    contexts: Sequence[Context] | None,
    settings: Settings,
    *,
    page_languages: Sequence[str] | None = None,
    captions: Sequence[Sequence[str] | None] | None = None,
    captioner: Captioner | None = None,
    writer: Writer | None = None,
    reader: Any = "settings",
    cache: Cache | None = None,
    progress: Progress | None = None,
) -> list[Description]:
    """Describe image files. ``captioner``, ``writer`` and ``reader`` (OCR) default to the ones
    ``settings`` name; ``reader=None`` reads no text.

    ``captions``: given captions per image that stand in for the captioner (``alttext eval
    --from-caption``); with them an image path may be '' (the captions are then all the evidence).

    With a ``cache``, descriptions it holds are returned without loading a model, and new ones
    are stored. An image listed many times (one picture on many pages) is loaded, read and
    captioned once; each listing is written with its own context.
    """
    started = time.perf_counter()
    contexts = list(contexts) if contexts is not None else [Context()] * len(images)
    page_languages = list(page_languages) if page_languages is not None else [""] * len(images)
    languages = [resolve_language(settings.language, page_languages[i]) for i in range(len(images))]
    given = list(captions) if captions is not None else [None] * len(images)
    results: list[Description | None] = [None] * len(images)

    keys: dict[int, tuple[str, str]] = {}
    if cache is not None and captions is None:
        digests = {path: file_sha256(path) for path in dict.fromkeys(images)}
        for i, path in enumerate(images):
            if digests[path]:
                keys[i] = (digests[path], fingerprint(settings, languages[i], contexts[i].items()))
        found = cache.get(list(keys.values()))
        for i, key in keys.items():
            if key in found:
                results[i] = _from_cache(found[key], images[i])

    todo = [i for i, r in enumerate(results) if r is None]
    if todo:
        jobs = [_Job(images[i], contexts[i], languages[i]) for i in todo]
        _run(jobs, [given[i] for i in todo], settings, captioner, writer, reader, progress or Progress())
        for i, job in zip(todo, jobs):
            results[i] = job.result
        if cache is not None:
            # Stored under the digest of the bytes actually described (the file may have changed
            # since it was hashed); failures are not stored, they are cheap to find again.
            cache.put({
                keys[i]: _cache_value(job.result) for i, job in zip(todo, jobs)
                if i in keys and job.loaded is not None and job.loaded.sha256 == keys[i][0] and job.result is not None
                and job.result.error is None and (job.result.text or job.result.decorative)
            })
    total = round(time.perf_counter() - started, 3)
    return [replace(r, timings={**r.timings, "total_s": total}) for r in results if r is not None]


# What a cache entry holds: the description without what belongs to this run.
_NOT_CACHED = ("image", "timings", "cached")


def _cache_value(d: Description) -> dict[str, Any]:
    return {k: v for k, v in d.as_dict().items() if k not in _NOT_CACHED}


def _from_cache(value: dict[str, Any], image: str) -> Description | None:
    """The cached description, or None when the entry does not fit (it is then described again)."""
    try:
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
        d = Description(**fields, image=image, cached=True)
    except TypeError:
        return None
    return d if isinstance(d.text, str) else None


def _chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[k : k + size]) for k in range(0, len(items), max(1, size))]


def _run(jobs: list[_Job], given: list[Sequence[str] | None], settings: Settings, captioner: Captioner | None, writer: Writer | None,
         reader: Any, progress: Progress) -> None:
    """The pipeline itself, on the jobs no cache holds: each job gets its ``result``."""
    started = time.perf_counter()
    _load(jobs)
    if reader == "settings":
        reader = make_reader(settings)
    _gather(jobs, reader, progress)
    evidence_s = time.perf_counter() - started
    _caption(jobs, given, settings, captioner, progress)
    caption_s = time.perf_counter() - started - evidence_s
    captioned_by = "(given)" if any(c is not None for c in given) else backends.captioner_label(settings)
    base = dict(backend=settings.backend, writer_model=writer_model(settings), prompt_version=PROMPT_VERSION, captioner=captioned_by)
    for job in jobs:
        b = budget(job.language, settings.length or None, job.evidence.size(job.language))
        job.result = Description(image=job.path, text="", caption=job.evidence.caption,
                                 language=job.language, kind=job.evidence.kind, evidence=tuple(job.evidence.facts(job.language)),
                                 bounds=(b.minimum, b.maximum), **base)
    todo = [job for job in jobs if _settle(job, settings)]
    if todo:
        if writer is None:
            writer = make_writer(settings)
            assert writer is not None  # the none backend needs no writer (_settle)
            if not writer.loaded:  # seconds to minutes, before the first answer: say so
                progress.note(messages.MODEL_LOADING.format(role="writer", model=settings.writer_model))
                writer.load()
        for job in todo:
            job.seed = seed_for(job.loaded.sha256 if job.loaded else hashlib.sha256(job.evidence.caption.encode()).hexdigest())
        _write(_distinct(todo), settings, writer, progress)
        for job in todo:
            if job.twin is not None and job.twin.result is not None:
                job.result = replace(job.twin.result, image=job.path)
    progress.done()
    timings = {"evidence_s": round(evidence_s, 3), "caption_s": round(caption_s, 3)}
    for job in jobs:
        job.result = replace(job.result, timings=timings)


def _load(jobs: list[_Job]) -> None:
    """Load each image once; the same picture under two names (or two places) is one picture."""
    first: dict[str, _Job] = {}
    for job in jobs:
        if not job.path:
            continue
        if job.path not in first:
            first[job.path] = job
            try:
                job.loaded = load_image_file(job.path)
            except ImageError as exc:
                job.error = str(exc)
        else:
            job.loaded, job.error = first[job.path].loaded, first[job.path].error
    by_content: dict[str, int] = {}
    for i, job in enumerate(jobs):
        job.rep = by_content.setdefault(job.loaded.sha256, i) if job.loaded is not None else i


def _hints(context: Context) -> list[str]:
    return [context.file_name, context.heading, context.figcaption, context.title_attribute, context.sentence]


def _gather(jobs: list[_Job], reader: Any, progress: Progress) -> None:
    """The measured evidence: visible text once per picture, the kind per listing (the page's
    words and whether the image is a link's only content can change it)."""
    read: dict[int, list[Any]] = {}
    failed: dict[int, str] = {}
    pictures = [i for i, job in enumerate(jobs) if job.loaded is not None and job.rep == i and job.loaded.image is not None]
    if reader is not None and pictures:
        progress.stage("reading text", len(pictures), "images")
        for i in pictures:
            try:
                read[i] = reader.read(jobs[i].loaded.image) if _big_enough(jobs[i].loaded) else []
            except ocr.OCRUnavailable:
                raise
            except Exception as exc:  # the engine failed on this picture: the rest of its evidence still counts
                failed[i] = messages.OCR_FAILED.format(reason=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            progress.advance()
    measured: dict[int, Any] = {}  # a picture's pixels are measured once, however many pages show it
    for job in jobs:
        if job.loaded is None:
            continue
        lines = read.get(job.rep)
        if job.loaded.image is not None and job.rep not in measured:
            measured[job.rep] = measure(job.loaded.image, job.loaded.width, job.loaded.height, job.loaded.alpha, lines or ())
        job.evidence = gather(job.loaded, lines, _hints(job.context), bool(job.context.link_target), measured.get(job.rep))
        if job.rep in failed:
            job.warnings = (failed[job.rep],)


def _big_enough(loaded: LoadedImage) -> bool:
    return loaded.width * loaded.height > 400 and min(loaded.width, loaded.height) > 8


def _caption(jobs: list[_Job], given: list[Sequence[str] | None], settings: Settings, captioner: Captioner | None,
             progress: Progress) -> None:
    """Captions: the given ones, or the captioner's for raster pictures that are not decorative,
    each picture once; a second caption where the first and the page leave an element out (and the
    captioner gives one)."""
    for job, caption in zip(jobs, given):
        if caption is not None:
            job.evidence = replace(job.evidence, captions=tuple(c for c in caption if c.strip()))
    if any(c is not None for c in given) or backends.captioner_backend(settings) == "none":
        return
    wanted = [i for i, job in enumerate(jobs) if job.rep == i and job.loaded is not None and job.loaded.image is not None
              and any(other.evidence.kind != "decorative" for other in jobs if other.rep == i)]
    if not wanted:
        return
    listings: dict[int, list[_Job]] = {}
    for job in jobs:
        listings.setdefault(job.rep, []).append(job)

    def wants_second(i: int, caption: str) -> bool:
        return any(j.evidence.kind in _CAPTIONED_KINDS and _unknown([caption, *j.evidence.svg_text], j.context, j.language)
                   for j in listings[i])

    if captioner is None:
        captioner = make_captioner(settings)
        assert captioner is not None  # the none backend returned above
        if not captioner.loaded:  # seconds to minutes, before the first picture: say so
            progress.note(messages.MODEL_LOADING.format(role="captioner", model=backends.captioner_label(settings)))
            captioner.load()
    progress.stage("captioning", len(wanted), "images")
    found: dict[int, tuple[str, ...]] = {}
    for chunk in _chunks(wanted, captioner.batch_size):
        pictures = [jobs[i].loaded.image for i in chunk]  # type: ignore[union-attr]
        # BLIP decodes both from one pass of its vision encoder; a backend without a second
        # caption gives None for it.
        answers = captioner.caption_pair(pictures, SECOND_PASS_PROMPT, wanted=lambda k, text, chunk=chunk: wants_second(chunk[k], text))
        found.update((i, tuple(dict.fromkeys(c for c in (text, again) if c))) for i, (text, again) in zip(chunk, answers))
        progress.advance(len(chunk))
    for job in jobs:
        if job.rep in found and job.evidence.kind != "decorative":
            captions = found[job.rep]
            if len(captions) > 1 and not (job.evidence.kind in _CAPTIONED_KINDS and _unknown(captions[:1], job.context, job.language)):
                captions = captions[:1]
            job.evidence = replace(job.evidence, captions=captions)


def _unknown(captions: Sequence[str], context: Context, language: str) -> tuple[str, ...]:
    """Elements (subject, scene, state) that neither the captions nor the page give. Captions are
    English (BLIP); the page is in its own language."""
    machine = combined(list(captions), "en")
    page = combined([value for _, value in context.items()], language)
    return tuple(m for m in machine.missing() if m in page.missing())


def _settle(job: _Job, settings: Settings) -> bool:
    """Give ``job`` its result where no writer is needed; True when the writer must write it."""
    assert job.result is not None
    evidence = job.evidence
    if job.error is not None:
        job.result = replace(job.result, needs_review=True, error=job.error)
        return False
    if evidence.kind == "decorative":
        job.result = replace(job.result, decorative=True, needs_review=True, reason=messages.DECORATIVE.format(why=evidence.kind_reason))
        return False
    if not evidence.substantive and not job.context.link_target:
        job.result = replace(job.result, needs_review=True, reason=messages.NO_EVIDENCE, notes=job.warnings)
        return False
    if settings.backend == "none" or not evidence.substantive:
        _fall_back(job, settings, needs_review=settings.backend != "none")
        return False
    return True


def _fall_back(job: _Job, settings: Settings, needs_review: bool = True, **why: Any) -> None:
    """The alt text composed from the evidence alone, in the page's language; or, where that
    cannot be made, none (or another language's, where ``language_fallback`` allows it)."""
    assert job.result is not None
    b = budget(job.language, settings.length or None)
    text = compose(job.evidence, job.language, b.maximum, job.context.link_target)
    notes = _notes(job, text)
    if text:
        job.result = replace(job.result, text=text, needs_review=needs_review, notes=notes, **why)
        return
    other = "en" if job.language == "zh" else "zh"
    if settings.language_fallback:
        text = compose(job.evidence, other, budget(other, settings.length or None).maximum, job.context.link_target)
    if text:
        job.result = replace(job.result, text=text, needs_review=True, notes=(*notes, messages.OTHER_LANGUAGE.format(language=other)), **why)
    else:
        reason = messages.NO_TEXT_IN_LANGUAGE if job.language == "zh" and job.evidence.caption else messages.NO_EVIDENCE
        job.result = replace(job.result, needs_review=True, reason=reason, notes=notes, **why)


def _notes(job: _Job, text: str) -> tuple[str, ...]:
    """What the person reviewing should know: evidence that could not be gathered, and a chart or
    diagram with more visible text than its alt text holds, which needs a long description."""
    if job.evidence.kind in ("chart", "diagram") and job.evidence.text:
        missing = [t.text for t in job.evidence.text if t.text not in text]
        if len(missing) > len(job.evidence.text) / 2:
            return (*job.warnings, messages.LONG_DESCRIPTION.format(kind=job.evidence.kind))
    return job.warnings


def _distinct(jobs: list[_Job]) -> list[_Job]:
    """The jobs to write: one per (picture, evidence, context, language); the others are marked
    with the job they repeat (``twin``) and take its result."""
    seen: dict[tuple[Any, ...], _Job] = {}
    out = []
    for job in jobs:
        key = (job.rep if job.loaded is not None else job.evidence.caption, job.evidence, job.context, job.language)
        if key in seen:
            job.twin = seen[key]
        else:
            seen[key] = job
            out.append(job)
    return out


@dataclass
class _Draft:
    """A job's conversation with the writer."""

    job: _Job
    messages: list[dict[str, str]]
    found: grounding.Evidence
    given: str  # the evidence and page text whose names, dates and words an answer may repeat
    own: str  # the picture's own facts (without their labels) and page text: what an answer may repeat
    feedback: tuple[str, ...] = ()
    answers: list[str] = field(default_factory=list)
    judged: list[tuple[str, list[cleaning.LintFinding]]] = field(default_factory=list)


def _draft(job: _Job, settings: Settings, feedback: tuple[str, ...] = ()) -> list[dict[str, str]]:
    return build_messages(job.evidence, job.context, job.language, settings.length or None, feedback)


def _write(jobs: list[_Job], settings: Settings, writer: Writer, progress: Progress) -> None:
    """Write, judge and retry once; then settle each job on the best text it has."""
    # Batched by language and kind, in page order within each: a batch's rows then share the whole
    # of their instructions and examples, which the writer runs once for all of them.
    order = sorted(jobs, key=lambda job: (job.language, job.evidence.kind))
    drafts = []
    for job in order:
        page = [v for _, v in job.context.items()]
        texts = [*job.evidence.texts(job.language), *page]
        own = [*job.evidence.values(job.language), *page]
        drafts.append(_Draft(job, _draft(job, settings), grounding.evidence(texts), "\n".join(texts), "\n".join(own)))
    size = writer.batch_size or max(settings.batch_size, settings.concurrency)

    def attempt(batch: list[_Draft], again: bool) -> None:
        if again:  # the retry's prompt also says what was wrong: an answer must not copy that either
            for d in batch:
                d.feedback = feedback_lines([(f.rule, f.detail) for f in d.judged[-1][1]], d.job.language)
                d.messages = _draft(d.job, settings, d.feedback)
        answers = writer.write([d.messages for d in batch], [d.job.seed + (1 if again else 0) for d in batch])
        for d, raw in zip(batch, answers):
            d.answers.append(raw)
            d.judged.append(_judge(raw, d, settings))
        progress.advance(len(batch))

    # The answers that break a rule are rewritten a batch at a time, as soon as there is a batch of
    # them (or at the end), while the writer still keeps their prompts' cache.
    progress.stage("writing", len(drafts), "alt texts")
    waiting: list[_Draft] = []
    for chunk in _chunks(drafts, size):
        attempt(chunk, again=False)
        failed = [k for k, d in enumerate(chunk) if d.judged[-1][1]]
        writer.keep(failed)
        waiting += [chunk[k] for k in failed]
        progress.add(len(failed))
        while len(waiting) >= size:
            attempt(waiting[:size], again=True)
            writer.keep([])
            waiting = waiting[size:]
    if waiting:
        attempt(waiting, again=True)
    writer.forget()  # nothing stays kept between runs (watch runs many)
    for d in drafts:
        _settle_draft(d, settings)


def _judge(raw: str, draft: _Draft, settings: Settings) -> tuple[str, list[cleaning.LintFinding]]:
    """The cleaned answer and what is wrong with it."""
    job = draft.job
    b = budget(job.language, settings.length or None, job.evidence.size(job.language))
    text = cleaning.clean(raw, job.language, b.maximum)
    if not text:
        return text, [cleaning.LintFinding("empty", "no text", -1)]
    findings = cleaning.lint(text, job.language, b.minimum, b.maximum, draft.given)
    echo = cleaning.echo(text, "\n".join([instructions(draft.messages), *draft.feedback]), draft.own, job.language)
    if echo is not None:
        findings.append(echo)
    if not _in_language(text, job.language):
        findings.append(cleaning.LintFinding("language", messages.NOT_IN_LANGUAGE[job.language], -1))
    elif job.language == "zh":
        untranslated = _untranslated(text, job)
        if untranslated:
            findings.append(cleaning.LintFinding("language", f"{messages.UNTRANSLATED}: {', '.join(untranslated)}", -1))
    if settings.grounding != "off":  # what the evidence says must be said: its visible text, its subject
        missing = _missing_text(text, job.evidence, job.language, b.maximum)
        if missing:
            findings.append(cleaning.LintFinding("missing-text", "; ".join(missing[:4]), -1))
        caption = job.evidence.caption
        if job.evidence.kind in _CAPTIONED_KINDS and caption and not grounding.names_subject(text, caption):
            findings.append(cleaning.LintFinding("subject", caption, -1))
    if settings.grounding == "strict":
        findings += grounding.findings(text, job.language, draft.found, known=findings)
    return text, findings


# The share of the visible text an answer about a screenshot, chart, diagram, logo or image of text
# must keep (of what fits in the budget): the text is what such a picture is for.
KEEP_TEXT = 0.6


def _missing_text(text: str, evidence: Evidence, language: str, maximum: int) -> list[str]:
    """The visible text ``text`` leaves out, when it leaves out too much of it (else [])."""
    if evidence.kind not in ("screenshot", "chart", "diagram", "logo", "text"):
        return []
    items = visible_items(evidence, language, maximum)
    said = _plain(text)
    missing = [item for item in items if _plain(item) not in said]
    return missing if items and len(items) - len(missing) < KEEP_TEXT * len(items) else []


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[\"“”'‘’「」.,;:!?。，；：！？]", " ", text.lower()).split())


def _untranslated(text: str, job: _Job) -> list[str]:
    """English words left in a Chinese answer ("一只 giraffe"): those the picture or page does not
    show as they are (visible text, a name in the file or on the page may stay in Latin letters)."""
    shown = " ".join([*(t.text for t in job.evidence.text), *job.evidence.svg_text, *(v for _, v in job.evidence.metadata),
                      *(v for _, v in job.context.items())]).lower()
    return [w for w in re.findall(r"[A-Za-z]{3,}", text) if w.lower() not in shown]


def _in_language(text: str, language: str) -> bool:
    chinese = sum("\u3400" <= c <= "\u9fff" for c in text)
    letters = sum(c.isalpha() for c in text)
    return chinese >= max(2, letters / 3) if language == "zh" else chinese <= letters / 3


def _settle_draft(d: _Draft, settings: Settings) -> None:
    """The job's result from its answers: the first that breaks no rule, else the last one without
    its offending sentences, else the text composed from the evidence."""
    job = d.job
    assert job.result is not None
    log: tuple[str, ...] = ()
    for k, (text, findings) in enumerate(d.judged):
        if not findings:
            loose = grounding.findings(text, job.language, d.found) if settings.grounding == "lenient" else []
            rejected = tuple(a for a in d.answers[:k])
            job.result = replace(job.result, text=text, lint=log + tuple(str(f) for f in loose), rejected=rejected,
                                 needs_review=bool(loose), notes=_notes(job, text))
            return
        log += tuple(str(f) for f in findings)
    text, findings = d.judged[-1]
    why: dict[int, list[str]] = {}
    for f in findings:
        if f.sentence >= 0:
            why.setdefault(f.sentence, []).append(str(f))
    rest = cleaning.drop_sentences(text, job.language, findings) if why else text
    # With the guard on, what is left must still say what the picture is of.
    named = settings.grounding != "strict" or grounding.names_subject(rest, job.evidence.caption)
    if rest and named and all(f.rule not in _WHOLE for f in findings):
        # The rest stands: keep it without the sentences that broke a rule (a length finding
        # alone keeps the text as it is, for a person to review).
        sentences = cleaning.sentences(text, job.language)
        dropped = tuple(f"{s} ({'; '.join(why[k])})" for k, s in enumerate(sentences) if k in why)
        job.result = replace(job.result, text=rest, lint=log, dropped=dropped, rejected=tuple(d.answers[:-1]),
                             needs_review=True, notes=_notes(job, rest))
        return
    _fall_back(job, settings, lint=log, rejected=tuple(d.answers), dropped=(text,) if text else ())
