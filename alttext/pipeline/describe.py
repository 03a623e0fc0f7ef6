"""describe(images, contexts, settings) -> one Description per image, in order, batched.

image -> evidence (visible text, kind, authored metadata, tied colours: ``pipeline.evidence``) ->
captions (the captioner backend: BLIP, a vision model on an OpenAI-compatible server, or none; BLIP
adds a second one, decoded with the first, kept where the first leaves out subject, scene or state)
-> the blind-reader editor prompt with worked examples of the same kind -> writer (its backend,
``pipeline.writing``) -> clean -> lint, prompt echo, language and the grounding guard -> one retry
that says what was wrong -> drop the offending sentences while the rest still names the subject,
or compose an alt text from the evidence alone (``pipeline.judge`` decides).

Each listing of an image is one ``Job`` (``pipeline.records``), filled in stage by stage.

- A decorative candidate is never described: it comes back with ``decorative`` set, for review.
- A page's language is kept: when no acceptable text in it can be made, the image has no text and
  a reason, unless ``language_fallback`` allows another language.
- Anything the pipeline had to repair is marked ``needs_review``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

from alttext import messages
from alttext.model import Context, Settings
from alttext.pipeline import backends, writing
from alttext.pipeline.cache import Cache, file_sha256, fingerprint
from alttext.pipeline.elements import combined
from alttext.pipeline.evidence import gather, ocr
from alttext.pipeline.evidence.kind import Features, measure
from alttext.pipeline.images import ImageError, LoadedImage, load_image_file
from alttext.pipeline.interface import Captioner, Writer
from alttext.pipeline.judge import CAPTIONED_KINDS, Judge
from alttext.pipeline.prompt import PROMPT_VERSION, resolve_language
from alttext.pipeline.records import Decision, Description, Job, chunks, seed_for
from alttext.progress import Progress

# BLIP continues this text: a second description that often names the place or the action.
SECOND_PASS_PROMPT = "a picture of"


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
    jobs = _jobs(images, contexts, page_languages, captions, settings)
    if cache is not None and captions is None:
        _look_up(jobs, settings, cache)
    todo = [job for job in jobs if job.result is None]
    if todo:
        _run(todo, settings, captioner, writer, reader, progress or Progress())
        if cache is not None:
            _store(todo, cache)
    total = round(time.perf_counter() - started, 3)
    return [replace(job.result, timings={**job.result.timings, "total_s": total}) for job in jobs if job.result is not None]


def _jobs(images: Sequence[str], contexts: Sequence[Context] | None, page_languages: Sequence[str] | None,
          captions: Sequence[Sequence[str] | None] | None, settings: Settings) -> list[Job]:
    """A job per listing, with the language its alt text is written in."""
    n = len(images)
    contexts = contexts if contexts is not None else [Context()] * n
    page_languages = page_languages if page_languages is not None else [""] * n
    given = captions if captions is not None else [None] * n
    return [Job(path, context, resolve_language(settings.language, page), caption)
            for path, context, page, caption in zip(images, contexts, page_languages, given, strict=True)]


# The cache ------------------------------------------------------------------------------------

# What a cache entry holds: the description without what belongs to this run.
_NOT_CACHED = ("image", "timings", "cached")


def _look_up(jobs: list[Job], settings: Settings, cache: Cache) -> None:
    """Each readable file's cache key, and the description the cache holds under it."""
    digests = {path: file_sha256(path) for path in dict.fromkeys(job.path for job in jobs)}
    for job in jobs:
        digest = digests[job.path]
        if digest:
            job.key = (digest, fingerprint(settings, job.language, job.context.items()))
    found = cache.get([job.key for job in jobs if job.key is not None])
    for job in jobs:
        if job.key is not None and job.key in found:
            job.result = _from_cache(found[job.key], job.path)


def _from_cache(value: dict[str, Any], image: str) -> Description | None:
    """The cached description, or None when the entry does not fit (it is then described again)."""
    try:
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
        d = Description(**fields, image=image, cached=True)
    except TypeError:
        return None
    return d if isinstance(d.text, str) else None


def _store(jobs: list[Job], cache: Cache) -> None:
    """Each new description, under the digest of the bytes actually described (the file may have
    changed since it was hashed). Failures are not stored: they are cheap to find again."""
    entries: dict[tuple[str, str], dict[str, Any]] = {}
    for job in jobs:
        d = job.result
        if job.key is None or job.loaded is None or job.loaded.sha256 != job.key[0] or d is None:
            continue
        if d.error is None and (d.text or d.decorative):
            entries[job.key] = {k: v for k, v in d.as_dict().items() if k not in _NOT_CACHED}
    cache.put(entries)


# The pipeline ---------------------------------------------------------------------------------


def _run(jobs: list[Job], settings: Settings, captioner: Captioner | None, writer: Writer | None, reader: Any,
         progress: Progress) -> None:
    """The pipeline itself, on the jobs no cache holds: each job gets its ``result``."""
    started = time.perf_counter()
    _load(jobs)
    _gather(jobs, make_reader(settings) if reader == "settings" else reader, progress)
    evidence_s = time.perf_counter() - started
    _caption(jobs, settings, captioner, progress)
    caption_s = time.perf_counter() - started - evidence_s
    judge = Judge.from_settings(settings)
    for job in jobs:
        job.decision = _unwritten(job, judge, settings.backend)
    todo = [job for job in jobs if job.decision is None]
    if todo:
        _write(todo, settings, judge, writer, progress)
    progress.done()
    timings = {"evidence_s": round(evidence_s, 3), "caption_s": round(caption_s, 3)}
    captioned_by = "(given)" if any(job.given_captions is not None for job in jobs) else backends.captioner_label(settings)
    made = {"backend": settings.backend, "writer_model": backends.writer_label(settings), "prompt_version": PROMPT_VERSION,
            "captioner": captioned_by}
    for job in jobs:
        job.result = _result(job, judge, made, timings)


def _result(job: Job, judge: Judge, made: dict[str, str], timings: dict[str, float]) -> Description:
    """The job's description: what was measured of the picture, and what was decided."""
    assert job.decision is not None
    b = judge.budget(job.language, job.evidence)
    return Description(image=job.path, caption=job.evidence.caption, language=job.language, kind=job.evidence.kind,
                       evidence=tuple(job.evidence.facts(job.language)), bounds=(b.minimum, b.maximum), error=job.error,
                       timings=timings, **made, **asdict(job.decision))


def _load(jobs: list[Job]) -> None:
    """Load each image once; the same picture under two names (or two places) is one picture."""
    by_path: dict[str, Job] = {}
    for job in jobs:
        if not job.path:
            continue
        seen = by_path.setdefault(job.path, job)
        if seen is not job:
            job.loaded, job.error = seen.loaded, seen.error
            continue
        try:
            job.loaded = load_image_file(job.path)
        except ImageError as exc:
            job.error = str(exc)
    by_content: dict[str, Job] = {}
    for job in jobs:
        job.first = by_content.setdefault(job.loaded.sha256, job) if job.loaded is not None else job


def _gather(jobs: list[Job], reader: Any, progress: Progress) -> None:
    """The measured evidence: visible text once per picture, the kind per listing (the page's
    words and whether the image is a link's only content can change it)."""
    pictures = [job for job in jobs if job.first is job and job.loaded is not None and job.loaded.image is not None]
    read, failed = _read_text(pictures, reader, progress) if reader is not None and pictures else ({}, {})
    measured: dict[Job, Features] = {}  # a picture's pixels are measured once, however many pages show it
    for job in jobs:
        if job.loaded is None or job.first is None:
            continue
        lines = read.get(job.first)
        if job.loaded.image is not None and job.first not in measured:
            measured[job.first] = measure(job.loaded.image, job.loaded.width, job.loaded.height, job.loaded.alpha, lines or ())
        job.evidence = gather(job.loaded, lines, _hints(job.context), bool(job.context.link_target), measured.get(job.first))
        if job.first in failed:
            job.warnings = (failed[job.first],)


def _read_text(pictures: list[Job], reader: Any, progress: Progress) -> tuple[dict[Job, list[Any]], dict[Job, str]]:
    """The visible text of each picture, and why it could not be read where the engine failed."""
    read: dict[Job, list[Any]] = {}
    failed: dict[Job, str] = {}
    progress.stage("reading text", len(pictures), "images")
    for job in pictures:
        assert job.loaded is not None
        try:
            read[job] = reader.read(job.loaded.image) if _big_enough(job.loaded) else []
        except ocr.OCRUnavailable:
            raise
        except Exception as exc:  # the engine failed on this picture: the rest of its evidence still counts
            failed[job] = messages.OCR_FAILED.format(reason=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        progress.advance()
    return read, failed


def _hints(context: Context) -> list[str]:
    return [context.file_name, context.heading, context.figcaption, context.title_attribute, context.sentence]


def _big_enough(loaded: LoadedImage) -> bool:
    return loaded.width * loaded.height > 400 and min(loaded.width, loaded.height) > 8


def _caption(jobs: list[Job], settings: Settings, captioner: Captioner | None, progress: Progress) -> None:
    """Captions: the given ones, or the captioner's for raster pictures that are not decorative,
    each picture once; a second caption where the first and the page leave an element out (and the
    captioner gives one)."""
    if any(job.given_captions is not None for job in jobs):
        for job in jobs:
            if job.given_captions is not None:
                job.evidence = replace(job.evidence, captions=tuple(c for c in job.given_captions if c.strip()))
        return
    if backends.captioner_backend(settings) == "none":
        return
    listings: dict[Job, list[Job]] = {}
    for job in jobs:
        if job.first is not None:
            listings.setdefault(job.first, []).append(job)
    wanted = [job for job in listings if job.loaded is not None and job.loaded.image is not None
              and any(other.evidence.kind != "decorative" for other in listings[job])]
    if not wanted:
        return
    if captioner is None:
        captioner = make_captioner(settings)
        assert captioner is not None  # the none backend returned above
        _ready(captioner, "captioner", backends.captioner_label(settings), progress)
    found = _captions(wanted, listings, captioner, progress)
    for job in jobs:
        if job.first in found and job.evidence.kind != "decorative":
            captions = found[job.first]
            if len(captions) > 1 and not (job.evidence.kind in CAPTIONED_KINDS and _unknown(captions[:1], job.context, job.language)):
                captions = captions[:1]
            job.evidence = replace(job.evidence, captions=captions)


def _captions(pictures: list[Job], listings: dict[Job, list[Job]], captioner: Captioner,
              progress: Progress) -> dict[Job, tuple[str, ...]]:
    """The captioner's captions of each picture: the first, and a second where one of its listings
    lacks an element the first and the page leave out."""

    def wants_second(job: Job, caption: str) -> bool:
        return any(j.evidence.kind in CAPTIONED_KINDS and _unknown([caption, *j.evidence.svg_text], j.context, j.language)
                   for j in listings[job])

    progress.stage("captioning", len(pictures), "images")
    found: dict[Job, tuple[str, ...]] = {}
    for chunk in chunks(pictures, captioner.batch_size):
        images = [job.loaded.image for job in chunk]  # type: ignore[union-attr]
        # BLIP decodes both from one pass of its vision encoder; a backend without a second
        # caption gives None for it.
        answers = captioner.caption_pair(images, SECOND_PASS_PROMPT, wanted=lambda k, text, chunk=chunk: wants_second(chunk[k], text))
        found.update((job, tuple(dict.fromkeys(c for c in (text, again) if c))) for job, (text, again) in zip(chunk, answers))
        progress.advance(len(chunk))
    return found


def _unknown(captions: Sequence[str], context: Context, language: str) -> tuple[str, ...]:
    """Elements (subject, scene, state) that neither the captions nor the page give. Captions are
    English (BLIP); the page is in its own language."""
    machine = combined(list(captions), "en")
    page = combined([value for _, value in context.items()], language)
    return tuple(m for m in machine.missing() if m in page.missing())


def _unwritten(job: Job, judge: Judge, backend: str) -> Decision | None:
    """The decision for a job no writer needs to write; None when the writer must write it."""
    evidence = job.evidence
    if job.error is not None:
        return Decision(needs_review=True)
    if evidence.kind == "decorative":
        return Decision(decorative=True, needs_review=True, reason=messages.DECORATIVE.format(why=evidence.kind_reason))
    if not evidence.substantive and not job.context.link_target:
        return Decision(needs_review=True, reason=messages.NO_EVIDENCE, notes=job.warnings)
    if backend == "none" or not evidence.substantive:
        return judge.compose(job, needs_review=backend != "none")
    return None


def _write(jobs: list[Job], settings: Settings, judge: Judge, writer: Writer | None, progress: Progress) -> None:
    """The decision for each job the writer writes: written once per distinct job, in batches."""
    if writer is None:
        writer = make_writer(settings)
        assert writer is not None  # the none backend needs no writer (_unwritten)
        _ready(writer, "writer", settings.writer_model, progress)
    for job in jobs:
        job.seed = seed_for(job.loaded.sha256 if job.loaded else hashlib.sha256(job.evidence.caption.encode()).hexdigest())
    writing.write(_distinct(jobs), judge, writer, writer.batch_size or max(settings.batch_size, settings.concurrency), progress)
    for job in jobs:
        if job.twin is not None:
            job.decision = job.twin.decision


def _ready(backend: Captioner | Writer, role: str, model: str, progress: Progress) -> None:
    if not backend.loaded:  # seconds to minutes, before the first picture or answer: say so
        progress.note(messages.MODEL_LOADING.format(role=role, model=model))
        backend.load()


def _distinct(jobs: list[Job]) -> list[Job]:
    """The jobs to write: one per (picture, evidence, context, language); the others are marked
    with the job they repeat (``twin``) and take its decision."""
    seen: dict[tuple[Any, ...], Job] = {}
    out = []
    for job in jobs:
        key = (job.first if job.loaded is not None else job.evidence.caption, job.evidence, job.context, job.language)
        if key in seen:
            job.twin = seen[key]
        else:
            seen[key] = job
            out.append(job)
    return out
