"""The records of the describe pipeline: a ``Job`` per listing of an image, filled in stage by stage
(loaded, evidence gathered, captioned, settled), its ``Decision`` (what was decided), and the
``Description`` that comes out; and the seed a picture is written with (``seed_for``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from alttext.model import Context
from alttext.pipeline.evidence import Evidence
from alttext.pipeline.images import LoadedImage


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


@dataclass(frozen=True)
class Decision:
    """What was decided for a listing: the fields of its ``Description`` that are not measured."""

    text: str = ""
    lint: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    decorative: bool = False
    needs_review: bool = False
    reason: str | None = None


@dataclass(eq=False)  # a job is itself, whatever it holds: the stages key their work by it
class Job:
    """One listing of an image (a file, on a page) on its way through the pipeline."""

    path: str  # '' where given captions are all the evidence
    context: Context
    language: str  # the language its alt text is written in
    given_captions: Sequence[str] | None = None  # captions that stand in for the captioner
    key: tuple[str, str] | None = None  # where the cache keeps its description: (file digest, fingerprint)
    loaded: LoadedImage | None = None
    error: str | None = None  # the image could not be read
    first: Job | None = None  # the first listing of the same picture: it is read and captioned once
    evidence: Evidence = Evidence()
    warnings: tuple[str, ...] = ()  # evidence that could not be gathered, for the person reviewing
    seed: int = 0
    twin: Job | None = None  # an earlier job with the same picture, evidence and page: its decision is this one's
    decision: Decision | None = None
    result: Description | None = None


def seed_for(image_sha256: str) -> int:
    """A per-image seed from its content hash, for whichever writer backend: the same picture
    gets the same seed on a rerun."""
    return int(image_sha256[:8], 16)


T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    """``items`` in batches of ``size`` (at least one), in order."""
    return [list(items[k : k + size]) for k in range(0, len(items), max(1, size))]
