"""describe(images, contexts, settings) -> one Description per image, in order, batched.

image -> caption (BLIP; an SVG's own text) -> elements check (a second, conditional caption,
decoded with the first from the same image encoding, kept only where an element is missing) -> blind-reader editor
prompt -> writer -> clean -> lint and the grounding guard -> one retry that names the broken
rules -> drop the offending sentences while the rest still names the subject, or fall back to
the caption. Anything the pipeline had to
repair is marked ``needs_review``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from alttext.images import ImageError, LoadedImage, load_image_file
from alttext.model import Settings
from alttext.progress import Progress
from alttext.pipeline import clean as cleaning
from alttext.pipeline import grounding
from alttext.pipeline.cache import Cache, file_sha256, fingerprint
from alttext.pipeline.elements import combined
from alttext.pipeline.prompt import PROMPT_VERSION, Context, Facts, budget, build_messages, resolve_language

# BLIP continues this text: a second description that often names the place or the action.
SECOND_PASS_PROMPT = "a picture of"


class Writer(Protocol):
    def write(self, conversations: Sequence[Sequence[dict[str, str]]], seeds: Sequence[int | None]) -> list[str]: ...


@dataclass(frozen=True)
class Description:
    image: str
    text: str  # the alt text ('' when the image could not be described)
    caption: str  # the base caption, or the SVG's text
    backend: str
    captioner: str
    writer_model: str
    prompt_version: str
    language: str
    lint: tuple[str, ...] = ()  # what was wrong with the writer's answers, in order
    dropped: tuple[str, ...] = ()  # sentences removed, and why
    needs_review: bool = False
    error: str | None = None
    cached: bool = False  # read from the cache, not generated in this run
    timings: dict[str, float] = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self).items()}


# Loaded models, one per configuration, kept for the life of the process (fix and watch describe
# many batches).
_LOADED: dict[tuple[Any, ...], Any] = {}


def make_writer(settings: Settings) -> Writer | None:
    if settings.backend == "none":
        return None
    key = ("writer", settings.backend, settings.writer_model, settings.base_url, settings.device, settings.batch_size,
           settings.timeout, settings.retries, settings.concurrency, settings.quantize)
    if key not in _LOADED:
        _LOADED[key] = _new_writer(settings)
    return _LOADED[key]


def _new_writer(settings: Settings) -> Writer:
    if settings.backend == "openai":
        from alttext.pipeline.writer_openai import OpenAISettings, OpenAIWriter

        return OpenAIWriter(
            OpenAISettings(
                base_url=settings.base_url,
                model=settings.writer_model,
                timeout=settings.timeout,
                retries=settings.retries,
                concurrency=settings.concurrency,
            )
        )
    from alttext.pipeline.writer_transformers import TransformersWriter

    return TransformersWriter(settings.writer_model, device=settings.device, batch_size=settings.batch_size, quantize=settings.quantize)


def make_captioner(settings: Settings) -> Any:
    from alttext.pipeline.caption import Captioner

    key = ("captioner", settings.captioner, settings.device, settings.batch_size, settings.captioner_precision)
    if key not in _LOADED:
        _LOADED[key] = Captioner(settings.captioner, device=settings.device, batch_size=settings.batch_size,
                                 precision=settings.captioner_precision)
    return _LOADED[key]


def describe(
    images: Sequence[str],
    contexts: Sequence[Context] | None,
    settings: Settings,
    *,
    page_languages: Sequence[str] | None = None,
    captioner: Any = None,
    writer: Writer | None = None,
    cache: Cache | None = None,
    progress: Progress | None = None,
) -> list[Description]:
    """Describe image files. ``captioner``/``writer`` default to the ones ``settings`` names.

    With a ``cache``, descriptions it holds are returned without loading a model, and new ones
    are stored. An image listed many times (one picture on many pages) is loaded and captioned
    once; each listing is written with its own context, and identical (image, context, language)
    once.
    """
    started = time.perf_counter()
    contexts = list(contexts) if contexts is not None else [Context()] * len(images)
    page_languages = list(page_languages) if page_languages is not None else [""] * len(images)
    languages = [resolve_language(settings.language, page_languages[i]) for i in range(len(images))]
    results: list[Description | None] = [None] * len(images)

    keys: dict[int, tuple[str, str]] = {}
    if cache is not None:
        digests = {path: file_sha256(path) for path in dict.fromkeys(images)}
        for i, path in enumerate(images):
            digest = digests[path]
            if digest:
                keys[i] = (digest, fingerprint(settings, languages[i], contexts[i].items()))
        found = cache.get(list(keys.values()))
        for i, key in keys.items():
            if key in found:
                results[i] = _from_cache(found[key], images[i])

    todo = [i for i, r in enumerate(results) if r is None]
    if todo:
        fresh, digests_read = _describe(
            [images[i] for i in todo], [contexts[i] for i in todo], [languages[i] for i in todo], settings,
            captioner, writer, progress or Progress(),
        )
        for i, d, digest in zip(todo, fresh, digests_read):
            results[i] = d
        if cache is not None:
            # Stored under the digest of the bytes actually described (the file may have changed
            # since it was hashed); failures are not stored, they are cheap to find again.
            cache.put({
                keys[i]: _cache_value(d) for i, d, digest in zip(todo, fresh, digests_read)
                if i in keys and digest == keys[i][0] and d.error is None and d.text
            })
    total = round(time.perf_counter() - started, 3)
    return [Description(**{**vars(r), "timings": {**r.timings, "total_s": total}}) for r in results if r is not None]


# What a cache entry holds: the description without what belongs to this run.
_NOT_CACHED = ("image", "timings", "cached")


def _cache_value(d: Description) -> dict[str, Any]:
    return {k: v for k, v in d.as_dict().items() if k not in _NOT_CACHED}


def _from_cache(value: dict[str, Any], image: str) -> Description | None:
    """The cached description, or None when the entry does not fit (it is then described again)."""
    try:
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
        return Description(**fields, image=image, cached=True)
    except TypeError:
        return None


def _chunks(items: Sequence[int], size: int) -> list[list[int]]:
    return [list(items[k : k + size]) for k in range(0, len(items), max(1, size))]


def _describe(
    images: list[str],
    contexts: list[Context],
    languages: list[str],
    settings: Settings,
    captioner: Any,
    writer: Writer | None,
    progress: Progress,
) -> tuple[list[Description], list[str | None]]:
    """The pipeline itself, on images no cache holds; the descriptions and each image's SHA-256."""
    writer_model = "" if settings.backend == "none" else settings.writer_model
    started = time.perf_counter()

    first: dict[str, int] = {}  # where each image is first listed
    for i, path in enumerate(images):
        first.setdefault(path, i)
    loaded: list[LoadedImage | None] = [None] * len(images)
    errors: list[str | None] = [None] * len(images)
    for path, i in first.items():
        try:
            loaded[i] = load_image_file(path)
        except ImageError as exc:
            errors[i] = str(exc)
    for i, path in enumerate(images):
        loaded[i], errors[i] = loaded[first[path]], errors[first[path]]

    # The same picture under two names (or two places) is one image: captioned and written once.
    rep = list(range(len(images)))  # each listing's first listing with the same bytes
    by_content: dict[str, int] = {}
    for i, im in enumerate(loaded):
        if im is not None:
            rep[i] = by_content.setdefault(im.sha256, i)

    # Captions: raster images in batches, each image once; an SVG's text is its caption.
    captions = [" ".join(im.svg_text) if im is not None and im.svg_text else "" for im in loaded]
    raster = [i for i, im in enumerate(loaded) if im is not None and im.image is not None]
    details: list[list[str]] = [list(im.svg_text[1:]) if im is not None and im.svg_text else [] for im in loaded]
    unique_raster = [i for i in raster if rep[i] == i]
    second: dict[int, str] = {}  # second captions, by first listing
    listings: dict[int, list[int]] = {}
    for i in raster:
        listings.setdefault(rep[i], []).append(i)

    def wants_second(i: int, caption: str) -> bool:
        """Whether a listing of image ``i`` misses an element that ``caption`` and its page leave out."""
        return any(_unknown([caption, *details[j]], contexts[j], languages[j]) for j in listings[i])

    if unique_raster:
        captioner = captioner or make_captioner(settings)
        size = getattr(captioner, "batch_size", settings.batch_size)
        pairs = hasattr(captioner, "caption_pair")  # both captions from one pass of the vision encoder
        progress.stage("captioning", len(unique_raster), "images")
        for chunk in _chunks(unique_raster, size):
            pictures = [loaded[i].image for i in chunk]  # type: ignore[union-attr]
            if pairs:
                # Both decoded together; the second is kept only for the pictures whose first leaves something out.
                answers = captioner.caption_pair(pictures, SECOND_PASS_PROMPT, wanted=lambda k, text, chunk=chunk: wants_second(chunk[k], text))
                for i, (text, again) in zip(chunk, answers):
                    captions[i] = text
                    if again is not None:
                        second[i] = again
            else:
                for i, text in zip(chunk, captioner.caption(pictures)):
                    captions[i] = text
            progress.advance(len(chunk))
        for i in raster:
            captions[i] = captions[rep[i]]

    # Elements the caption leaves out: a second caption, then the page context, may supply them.
    def missing(i: int) -> tuple[str, ...]:
        return _unknown([captions[i], *details[i]], contexts[i], languages[i])

    needs_second = [i for i in raster if missing(i)]
    later = list(dict.fromkeys(rep[i] for i in needs_second if rep[i] not in second))
    if later:  # a captioner without caption_pair: a second pass for the images that need it
        progress.stage("captioning again", len(later), "images")
        for chunk in _chunks(later, size):
            texts = captioner.caption([loaded[i].image for i in chunk], prompt=SECOND_PASS_PROMPT)  # type: ignore[union-attr]
            second.update(zip(chunk, texts))
            progress.advance(len(chunk))
    for i in needs_second:
        text = second[rep[i]]
        if text and text != captions[i]:
            details[i].append(text)
    caption_s = round(time.perf_counter() - started, 3)

    results: list[Description | None] = [None] * len(images)
    todo: list[tuple[int, dict[str, Any]]] = []
    for i, path in enumerate(images):
        base = dict(
            image=path, caption=captions[i], backend=settings.backend, captioner=settings.captioner,
            writer_model=writer_model, prompt_version=PROMPT_VERSION, language=languages[i],
        )
        if errors[i] is not None:
            results[i] = Description(text="", needs_review=True, error=errors[i], **base)
        elif settings.backend == "none":
            b = budget(languages[i], settings.length or None)
            text = cleaning.clean(captions[i], languages[i], b.maximum)
            results[i] = Description(text=text, **base)
        else:
            todo.append((i, base))

    if todo:
        from alttext.pipeline.writer_transformers import seed_for

        writer = writer or make_writer(settings)
        assert writer is not None
        facts = {i: Facts(captions[i], tuple(details[i]), missing(i)) for i, _ in todo}
        same: dict[tuple[Any, ...], int] = {}
        for i, _ in todo:
            same.setdefault((rep[i], facts[i], contexts[i], languages[i]), i)
        seeds = {i: seed_for(loaded[i].sha256) for i, _ in todo}  # type: ignore[union-attr]
        _write([(i, base) for i, base in todo if i in same.values()], facts, contexts, languages, seeds, settings, writer, results, progress)
        for i, base in todo:
            j = same[(rep[i], facts[i], contexts[i], languages[i])]
            if j != i:
                results[i] = Description(**{**vars(results[j]), **base})
    progress.done()
    out = [Description(**{**vars(r), "timings": {"caption_s": caption_s}}) for r in results if r is not None]
    return out, [im.sha256 if im is not None else None for im in loaded]


def _unknown(captions: Sequence[str], context: Context, language: str) -> tuple[str, ...]:
    """Elements (subject, scene, state) that neither the captions nor the page give. Captions are
    English (BLIP); the page is in its own language."""
    machine = combined(list(captions), "en")
    page = combined([value for _, value in context.items()], language)
    return tuple(m for m in machine.missing() if m in page.missing())


def describe_captions(
    captions: Sequence[str],
    contexts: Sequence[Context],
    languages: Sequence[str],
    settings: Settings,
    *,
    names: Sequence[str] | None = None,
    details: Sequence[Sequence[str]] | None = None,
    writer: Writer | None = None,
    progress: Progress | None = None,
) -> list[Description]:
    """The writer stage alone, from given base captions (``alttext eval --from-caption``).

    ``languages`` are resolved ("en" or "zh"); ``names`` label the results (``Description.image``);
    ``details`` are further evidence per caption, like the second caption. Each answer is seeded
    from its caption, so a run is reproducible. No image is read and no cache is used.
    """
    from alttext.pipeline.writer_transformers import seed_for

    started = time.perf_counter()
    progress = progress or Progress()
    names = list(names) if names is not None else [f"caption {k + 1}" for k in range(len(captions))]
    extra = [tuple(d) for d in details] if details is not None else [()] * len(captions)
    writer_model = "" if settings.backend == "none" else settings.writer_model
    results: list[Description | None] = [None] * len(captions)
    todo: list[tuple[int, dict[str, Any]]] = []
    for i, caption in enumerate(captions):
        base = dict(image=names[i], caption=caption, backend=settings.backend, captioner="(given)", writer_model=writer_model,
                    prompt_version=PROMPT_VERSION, language=languages[i])
        if settings.backend == "none":
            results[i] = Description(text=_fallback(caption, languages[i], settings), **base)
        else:
            todo.append((i, base))
    if todo:
        writer = writer or make_writer(settings)
        assert writer is not None
        facts = {i: Facts(captions[i], extra[i], _unknown([captions[i], *extra[i]], contexts[i], languages[i])) for i, _ in todo}
        seeds = {i: seed_for(hashlib.sha256(captions[i].encode()).hexdigest()) for i, _ in todo}
        _write(todo, facts, list(contexts), list(languages), seeds, settings, writer, results, progress)
    progress.done()
    total = round(time.perf_counter() - started, 3)
    return [Description(**{**vars(r), "timings": {"total_s": total}}) for r in results if r is not None]


def _judge(raw: str, language: str, settings: Settings, found: grounding.Evidence, given: str) -> tuple[str, list[cleaning.LintFinding]]:
    """The cleaned answer and what is wrong with it (in strict grounding, words nothing supports).
    ``given``: the captions and page context, whose names the answer may repeat."""
    b = budget(language, settings.length or None)
    text = cleaning.clean(raw, language, b.maximum)
    if not text:
        return text, [cleaning.LintFinding("empty", "no text", -1)]
    findings = cleaning.lint(text, language, b.minimum, b.maximum, given)
    if settings.grounding == "strict":
        findings += grounding.findings(text, language, found, known=findings)
    return text, findings


def _fallback(caption: str, language: str, settings: Settings) -> str:
    """The cleaned caption. A BLIP caption is English: it is cleaned as English on any page."""
    if language == "zh" and not any("\u3400" <= c <= "\u9fff" for c in caption):
        language = "en"
    return cleaning.clean(caption, language, budget(language, settings.length or None).maximum)


def _write(
    todo: list[tuple[int, dict[str, Any]]],
    facts: dict[int, Facts],
    contexts: list[Context],
    languages: list[str],
    seeds: dict[int, int],
    settings: Settings,
    writer: Writer,
    results: list[Description | None],
    progress: Progress,
) -> None:
    def conversation(i: int, feedback: tuple[str, ...] = ()) -> list[dict[str, str]]:
        return build_messages(facts[i], contexts[i], languages[i], settings.length or None, feedback)

    # Batched by language, in page order within each: a batch's rows then share the whole of
    # their instructions (the system message), which the writer runs once for all of them.
    order = sorted((i for i, _ in todo), key=lambda i: languages[i])
    # The evidence an answer may draw on: the captions and what the page says around the image.
    texts = {i: [facts[i].caption, *facts[i].details, *(v for _, v in contexts[i].items())] for i in order}
    found = {i: grounding.evidence(texts[i]) for i in order}
    given = {i: "\n".join(texts[i]) for i in order}  # whose names an answer may repeat
    size = getattr(writer, "batch_size", None) or max(settings.batch_size, settings.concurrency)

    judged: dict[int, tuple[str, list[cleaning.LintFinding]]] = {}
    history: dict[int, tuple[str, ...]] = {i: () for i in order}
    # A writer that can keep a batch's prompt cache for its retries, and release it at the end.
    keep, forget = getattr(writer, "keep", None), getattr(writer, "forget", None)

    def rewrite(items: list[int]) -> None:
        """One retry that names the broken rules, with a new (still reproducible) seed."""
        feedback = {i: tuple(str(f) for f in judged[i][1]) for i in items}
        again = writer.write([conversation(i, feedback[i]) for i in items], [seeds[i] + 1 for i in items])
        if keep is not None:
            keep([])
        for i, raw in zip(items, again):
            history[i] = feedback[i]
            judged[i] = _judge(raw, languages[i], settings, found[i], given[i])
        progress.advance(len(items))

    # In chunks of the writer's own batch, so the progress moves and batches stay the same. The
    # answers that break a rule are rewritten a batch at a time, as soon as there is a batch of
    # them (or at the end), while the writer still keeps their prompts' cache.
    progress.stage("writing", len(order), "alt texts")
    waiting: list[int] = []
    for chunk in _chunks(order, size):
        answers = writer.write([conversation(i) for i in chunk], [seeds[i] for i in chunk])
        for i, raw in zip(chunk, answers):
            judged[i] = _judge(raw, languages[i], settings, found[i], given[i])
        failed = [k for k, i in enumerate(chunk) if judged[i][1]]
        if keep is not None:
            keep(failed)
        waiting += [chunk[k] for k in failed]
        progress.advance(len(chunk))
        progress.add(len(failed))
        while len(waiting) >= size:
            rewrite(waiting[:size])
            waiting = waiting[size:]
    if waiting:
        rewrite(waiting)
    if forget is not None:
        forget()  # nothing stays kept between runs (watch runs many)

    for i, base in todo:
        text, findings = judged[i]
        lint_log = history[i] + tuple(str(f) for f in findings)
        if not findings:
            # Lenient grounding keeps what nothing supports, for a person to check.
            loose = grounding.findings(text, languages[i], found[i]) if settings.grounding == "lenient" else []
            lint_log += tuple(str(f) for f in loose)
            results[i] = Description(text=text, lint=lint_log, needs_review=bool(loose), **base)
            continue
        why: dict[int, list[str]] = {}
        for f in findings:
            if f.sentence >= 0:
                why.setdefault(f.sentence, []).append(str(f))
        rest = cleaning.drop_sentences(text, languages[i], findings) if why else text
        # With the guard on, what is left must still say what the picture is of.
        named = settings.grounding != "strict" or grounding.names_subject(rest, facts[i].caption)
        if rest and named and all(f.rule != "empty" for f in findings):
            # The rest stands: keep it without the sentences that broke a rule (a length finding
            # alone keeps the text as it is, for a person to review).
            sentences = cleaning.sentences(text, languages[i])
            dropped = tuple(f"{s} ({'; '.join(why[k])})" for k, s in enumerate(sentences) if k in why)
            results[i] = Description(text=rest, lint=lint_log, dropped=dropped, needs_review=True, **base)
        else:
            results[i] = Description(text=_fallback(facts[i].caption, languages[i], settings), lint=lint_log, dropped=(text,) if text else (), needs_review=True, **base)
