"""Everything before a file is written: scan the files and resolve each image to a file and a
place on its page (``collect``: fix and watch), describe them all in batches (``describe_all``),
then edit and verify each file (``plan_file``: apply too). Writing it, and what is printed, is
``finish``'s.

Per file: every edit is collected first, overlaps are refused, the edits are spliced in reverse
order, and the new text is scanned again. It must hold the same images with the same sources, the
fixed ones now with exactly the alt text written, and no finding that was not there before. Only
such a text (``FileFix.new_text``) is handed on to be written.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from alttext import escape, messages
from alttext.fixing.context import Place, places_in
from alttext.fixing.edit import Edit, EditError, apply_edits, decorative_edit, edit_for
from alttext.fixing.locate import Resolver
from alttext.model import Context, FileError, Finding, Settings
from alttext.pipeline.describe import describe
from alttext.scan import kind_of, scan_text
from alttext.scan.engines import detect
from alttext.scan.events import ImageEvent
from alttext.scan.files import Document, discover, in_shard, load_document
from alttext.scan.html import prepare_html
from alttext.scan.markdown import prepare
from alttext.fixing.write import allowed_roots, refusal

FIXABLE = ("ALT001", "ALT003")


@dataclass(frozen=True)
class Proposal:
    """One finding and what alttext proposes for it."""

    finding: Finding
    image: str | None = None  # the file described (a temporary copy for data: and remote images)
    alt: str = ""  # the proposed alt text ('' when there is none)
    reason: str | None = None  # why it is not fixed
    caption: str = ""
    lint: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    needs_review: bool = False
    kind: str = ""  # what kind of image the pipeline took it for
    decorative: bool = False  # a decorative candidate: alt="" proposed, for a person to confirm
    mark_decorative: bool = False  # a person confirmed it decorative: alt="" (HTML), alttext's marker (Markdown)
    notes: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()  # the facts the text was written from, as the writer saw them
    context: tuple[tuple[str, str], ...] = ()  # where the image stands on the page (heading, sentence, …)


@dataclass
class FileFix:
    document: Document
    engine: str
    findings: tuple[Finding, ...] = ()  # every finding of the text as read
    images: tuple[ImageEvent, ...] = ()  # every image of the text as read, as the scan reported them
    proposals: list[Proposal] = field(default_factory=list)
    places: dict[int, Place] = field(default_factory=dict)  # by finding start
    edits: list[Edit] = field(default_factory=list)  # what plan_file spliced in
    new_text: str | None = None  # the verified new text; None when nothing changes
    problem: str | None = None  # why the file is left as it is

    @property
    def path(self) -> str:
        return self.document.path


def fixable(finding: Finding, settings: Settings) -> bool:
    return finding.rule in FIXABLE or (settings.strict and finding.rule == "ALT002")


def _prepared(text: str, path: str, engine: str) -> str:
    """``text`` with templating made opaque, offsets unchanged (for reading tag attributes)."""
    if kind_of(path) == "markdown":
        return prepare(text, engine)[0]

    return prepare_html(text, engine)


def _shift(edits: Sequence[Edit]) -> Callable[[int], int]:
    """Where an offset of the old text (outside every edit) is in the new text."""

    def moved(offset: int) -> int:
        return offset + sum(len(e.text) - (e.end - e.start) for e in edits if e.start < offset and e.end <= offset)

    return moved


def verify(fix: FileFix, new: str, settings: Settings, fixed: dict[int, str], edits: Sequence[Edit]) -> str | None:
    """Why ``new`` is not a safe replacement for the text of ``fix`` (None when it is), by a scan
    of ``new`` against the scan of the text as read. ``fixed`` maps the start offsets (in the old
    text) of the fixed images to the alt text written."""
    images: list[ImageEvent] = []
    after = scan_text(fix.path, new, settings, engine=fix.engine, images=images)
    if [(e.element, e.src) for e in fix.images] != [(e.element, e.src) for e in images]:
        return "the images or their sources changed"
    moved = _shift(edits)
    expected = {(moved(f.start), f.rule) for f in fix.findings if f.start not in fixed}
    found = {(f.start, f.rule) for f in after}
    if found - expected:
        return "the edit would leave or create a finding"
    alts = {e.verdict.alt for e in images}
    for start, alt in fixed.items():
        if alt and escape.plain(alt) not in alts:
            return "the alt text did not read back as written"
    return None


def plan_file(fix: FileFix, settings: Settings) -> None:
    """Edit ``fix``'s text with its described proposals and verify the result."""
    text = fix.document.text
    todo = [(k, p) for k, p in enumerate(fix.proposals) if p.reason is None and (p.alt or p.mark_decorative)]
    # Only a tag's attributes are read from the prepared text.
    prepared = _prepared(text, fix.path, fix.engine) if any(p.finding.syntax == "html" for _, p in todo) else None
    edits: list[Edit] = []
    fixed: dict[int, str] = {}
    for k, p in todo:
        made = decorative_edit(text, p.finding, prepared, fix.engine) if p.mark_decorative else edit_for(text, p.finding, p.alt, prepared)
        if isinstance(made, str):
            fix.proposals[k] = replace(p, reason=made)
            continue
        edits.append(made)
        fixed[p.finding.start] = "" if p.mark_decorative else p.alt
    fix.edits = edits
    if not edits:
        return
    try:
        new = apply_edits(text, edits)
    except EditError as exc:
        fix.problem = str(exc)
        return
    problem = verify(fix, new, settings, fixed, edits)
    if problem:
        fix.problem = messages.FIX_UNVERIFIED.format(path=fix.path, reason=problem)
        return
    fix.new_text = new


def open_file(path: str, settings: Settings) -> tuple[FileFix | None, FileError | None]:
    """A file read and scanned, ready for proposals."""
    document, error = load_document(path, settings)
    if document is None:
        return None, error
    return scanned(document, detect(path, settings), settings), None


def scanned(document: Document, engine: str, settings: Settings) -> FileFix:
    """A document scanned, ready for proposals."""
    images: list[ImageEvent] = []
    findings = scan_text(document.path, document.text, settings, engine=engine, images=images)
    return FileFix(document, engine, findings, tuple(images))


def writable_roots(paths: Sequence[str], settings: Settings) -> tuple[str, ...] | None:
    """Where fix may write: under the project root or a path given (None: anywhere, with
    ``follow_symlinks``)."""
    return allowed_roots(settings.root, settings.follow_symlinks, *(paths or ["."]))


def collect(paths: Sequence[str], settings: Settings, workdir: str, shard: tuple[int, int] | None = None,
            allowed: Sequence[str] | None = (), writes: bool = True) -> tuple[list[FileFix], list[FileError]]:
    """Scan the files (of one shard) and resolve every fixable finding to an image and a place
    on its page. When the result is to be written (``writes``), a page that may not be
    (``allowed``; by default the project root and ``paths``) is reported, its images not
    described; a diff or a report of it is still made."""
    if allowed == ():
        allowed = writable_roots(paths, settings)
    files, errors = discover(paths, settings)
    if shard is not None:
        files = [path for path in files if in_shard(path, shard, settings.root)]
    resolver = Resolver(settings.images, workdir)
    fixes: list[FileFix] = []
    for path in files:
        fix, error = open_file(path, settings)
        if fix is None:
            errors.append(error)
            continue
        fixes.append(fix)
        why = refusal(path, allowed) if writes else None
        if why and any(fixable(f, settings) for f in fix.findings):
            fix.problem = messages.FIX_REFUSED.format(path=path, reason=why)
            fix.proposals = [Proposal(f, reason=why) for f in fix.findings if fixable(f, settings)]
            continue
        findings = [f for f in fix.findings if fixable(f, settings)]
        if not findings:
            continue
        places = places_in(path, fix.document.text, findings)
        for f in findings:
            place = places.get(f.start)
            # Candidates in order; the last is the src as written, so a failure reports its reason.
            # No candidate at all (no src, an area whose map no image uses): resolve "" for why.
            for src in (place.sources if place else (f.src,)) or ("",):
                resolved = resolver.resolve(src, path)
                if resolved.path:
                    break
            image, reason = resolved.path, resolved.reason
            if f.element == "area":
                image, reason = _area_image(image, reason, place, workdir)
            fix.proposals.append(Proposal(f, image=image, reason=reason))
        fix.places = places
    return fixes, errors


def _area_image(image: str | None, reason: str | None, place: Place | None, workdir: str) -> tuple[str | None, str | None]:
    """The region of the map's image that an ``<area>`` covers, as an image file of its own."""
    if place is None or not place.sources or not place.sources[0]:
        return None, "no <img usemap> uses this area's map"
    if image is None:
        return None, reason
    if place.region is None:
        return image, None  # shape=default: the whole image
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(image) as im:
            im.load()
            sx, sy = (im.width / place.shown_size[0], im.height / place.shown_size[1]) if place.shown_size else (1.0, 1.0)
            x0, y0, x1, y1 = place.region
            box = (max(0, round(x0 * sx)), max(0, round(y0 * sy)), min(im.width, round(x1 * sx)), min(im.height, round(y1 * sy)))
            if box[2] - box[0] < 2 or box[3] - box[1] < 2:
                return None, "the area's coords lie outside its image"
            crop = im.crop(box)
            target = os.path.join(workdir, f"area-{abs(hash((image, box)))}.png")
            crop.save(target, "PNG")
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        return None, f"the map image could not be cropped: {exc}"
    return target, None


def describe_all(fixes: list[FileFix], settings: Settings, **options: object) -> None:
    """Describe every resolved image of every file in one batched run (an image used in many
    places is captioned once; each place is written with its own context). ``options`` go to
    ``describe`` (cache, progress, models)."""
    todo = [(fix, k) for fix in fixes for k, p in enumerate(fix.proposals) if p.image and p.reason is None]
    if not todo:
        return
    images = [fix.proposals[k].image or "" for fix, k in todo]
    places = [fix.places.get(fix.proposals[k].finding.start) for fix, k in todo]
    contexts = [place.context if place else Context() for place in places]
    languages = [place.language if place else "" for place in places]
    results = describe(images, contexts, settings, page_languages=languages, **options)  # type: ignore[arg-type]
    for (fix, k), d, context in zip(todo, results, contexts):
        p = replace(fix.proposals[k], caption=d.caption, lint=d.lint, dropped=d.dropped, needs_review=d.needs_review,
                    kind=d.kind, decorative=d.decorative, notes=d.notes, evidence=d.evidence, context=tuple(context.items()))
        alt = escape.plain(d.text)  # the text as it will be written, in reports and logs too
        if d.error or not alt:
            reason = f"image not described: {d.error.split(': ', 1)[-1]}" if d.error else (d.reason or "no description could be written")
            fix.proposals[k] = replace(p, reason=reason)
            continue
        fix.proposals[k] = replace(p, alt=alt)


def new_bytes(fix: FileFix) -> bytes:
    assert fix.new_text is not None
    data = fix.new_text.encode("utf-8")
    return b"\xef\xbb\xbf" + data if fix.document.bom else data


def unified_diff(fix: FileFix) -> str:
    assert fix.new_text is not None
    name = fix.path
    return "".join(
        difflib.unified_diff(
            fix.document.text.splitlines(keepends=True), fix.new_text.splitlines(keepends=True), f"a/{name}", f"b/{name}"
        )
    )

