"""Captioner and writer backends: one small declared interface each, chosen by name.

As simonw's llm registers model plugins, each backend registers a factory under its name
(``register_captioner``, ``register_writer``), and the pipeline asks for the one the settings name.
The interfaces (``Captioner``, ``Writer``) declare every ability the pipeline uses, so it calls
them directly and never asks an object what it can do; the base classes (``CaptionerBase``,
``WriterBase``) give each ability its plain default. Built in:

- captioners: ``blip`` (in process, ``alttext.pipeline.caption``), ``openai`` (any
  OpenAI-compatible chat server that accepts images, ``alttext.pipeline.captioner_openai``) and
  ``none`` (no captions: the picture's text, kind, metadata and colours alone);
- writers: ``transformers`` (in process), ``openai`` (an OpenAI-compatible server) and ``none``
  (the alt text composed from the evidence).

Nothing heavy is imported here: a factory imports its backend when it is called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from alttext.model import Settings


class BackendError(Exception):
    """A backend that cannot be used (a server that refuses, a model it does not have); ``str()``
    is one line that says what to do."""


class Captioner(Protocol):
    """Pictures in, short English descriptions of what they show out: evidence for the writer and
    the grounding guard."""

    @property
    def batch_size(self) -> int:
        """Pictures per call (the pipeline hands them over this many at a time)."""
        ...

    @property
    def loaded(self) -> bool:
        """Whether ``load`` has nothing left to do (the pipeline says so before a long load)."""
        ...

    def load(self) -> None: ...

    def caption(self, images: Sequence[Any], prompt: str | None = None) -> list[str]:
        """One caption per picture, in order; with ``prompt``, a caption that answers it (BLIP
        continues the text)."""
        ...

    def caption_pair(self, images: Sequence[Any], prompt: str,
                     wanted: Callable[[int, str], bool] | None = None) -> list[tuple[str, str | None]]:
        """(plain caption, caption with ``prompt``) per picture; the second is None where
        ``wanted`` (the picture's index and plain caption) says it is not needed, or where the
        backend's one answer already says what a second would."""
        ...


class Writer(Protocol):
    """Chat conversations in (the blind-reader editor prompt), one answer each out."""

    @property
    def batch_size(self) -> int | None:
        """Conversations per call; None: the settings decide (``batch_size``, ``concurrency``)."""
        ...

    @property
    def loaded(self) -> bool: ...

    def load(self) -> None: ...

    def write(self, conversations: Sequence[Sequence[Mapping[str, str]]], seeds: Sequence[int | None]) -> list[str]: ...

    def keep(self, rows: Sequence[int]) -> None:
        """Of the batch just written, the rows that will be written again (their retry), for a
        writer that can start a retry from what it kept of the first prompt."""
        ...

    def forget(self) -> None:
        """Drop whatever ``keep`` kept (the end of a run)."""
        ...


class CaptionerBase:
    """The plain defaults of ``Captioner``: nothing to load, and the second caption asked for
    with its own call. A subclass gives ``caption``."""

    batch_size: int = 8

    @property
    def loaded(self) -> bool:
        return True

    def load(self) -> None:
        return None

    def caption(self, images: Sequence[Any], prompt: str | None = None) -> list[str]:
        raise NotImplementedError

    def caption_pair(self, images: Sequence[Any], prompt: str,
                     wanted: Callable[[int, str], bool] | None = None) -> list[tuple[str, str | None]]:
        texts = self.caption(images)
        again = [k for k, text in enumerate(texts) if wanted is None or wanted(k, text)]
        more = dict(zip(again, self.caption([images[k] for k in again], prompt=prompt))) if again else {}
        return [(text, more.get(k)) for k, text in enumerate(texts)]


class WriterBase:
    """The plain defaults of ``Writer``: nothing to load, the settings' batch size, nothing kept
    between a batch and its retry. A subclass gives ``write``."""

    batch_size: int | None = None

    @property
    def loaded(self) -> bool:
        return True

    def load(self) -> None:
        return None

    def write(self, conversations: Sequence[Sequence[Mapping[str, str]]], seeds: Sequence[int | None]) -> list[str]:
        raise NotImplementedError

    def keep(self, rows: Sequence[int]) -> None:
        return None

    def forget(self) -> None:
        return None


@dataclass(frozen=True)
class Backend:
    """A registered backend: ``make`` builds it from the settings (None: the stage is skipped);
    ``key`` is what, in the settings, makes one built backend differ from another; ``label``
    names it, with what changes its output, for descriptions, reports and the cache."""

    name: str
    make: Callable[[Settings], Any]
    key: Callable[[Settings], tuple[Any, ...]]
    label: Callable[[Settings], str]


CAPTIONERS: dict[str, Backend] = {}
WRITERS: dict[str, Backend] = {}


CaptionerFactory = Callable[[Settings], "Captioner | None"]
WriterFactory = Callable[[Settings], "Writer | None"]


def register_captioner(name: str, key: Callable[[Settings], tuple[Any, ...]],
                       label: Callable[[Settings], str] | None = None) -> Callable[[CaptionerFactory], CaptionerFactory]:
    """Register a captioner factory under ``name`` (``captioner_backend = name`` chooses it)."""

    def add(make: CaptionerFactory) -> CaptionerFactory:
        CAPTIONERS[name] = Backend(name, make, key, label or (lambda s: f"{name}:{captioner_model(s)}"))
        return make

    return add


def register_writer(name: str, key: Callable[[Settings], tuple[Any, ...]],
                    label: Callable[[Settings], str] | None = None) -> Callable[[WriterFactory], WriterFactory]:
    """Register a writer factory under ``name`` (``backend = name`` chooses it)."""

    def add(make: WriterFactory) -> WriterFactory:
        WRITERS[name] = Backend(name, make, key, label or (lambda s: s.writer_model))
        return make

    return add


# What the settings mean for the captioner ----------------------------------------------------


def captioner_backend(settings: Settings) -> str:
    """The captioner backend's name: ``captioner = "none"`` (the older spelling) is the none backend."""
    return "none" if settings.captioner == "none" else settings.captioner_backend


def captioner_base_url(settings: Settings) -> str:
    """The captioner's server: its own, else the writer's."""
    return settings.captioner_base_url or settings.base_url


def captioner_model(settings: Settings) -> str:
    """The captioner server's model: its own, else the writer's."""
    return settings.captioner_model or settings.writer_model


def captioner_label(settings: Settings) -> str:
    """The captioner as descriptions, reports and the cache name it: the BLIP model, ``none``, or
    ``openai:model (vision prompt version)``. Two captioners with one label write the same captions."""
    return CAPTIONERS[captioner_backend(settings)].label(settings)


def writer_quantization(settings: Settings) -> str:
    """The writer's quantization as reports and the cache name it: "int8" or "none" (what
    ``quantize = "auto"`` comes to on this machine)."""
    if settings.backend != "transformers":
        return "none"
    from alttext.pipeline.writer_transformers import quantization

    return quantization(settings.quantize, settings.device)


def captioner_key(settings: Settings) -> tuple[Any, ...]:
    """What distinguishes one built captioner from another."""
    name = captioner_backend(settings)
    return (name, *CAPTIONERS[name].key(settings))


def writer_key(settings: Settings) -> tuple[Any, ...]:
    return (settings.backend, *WRITERS[settings.backend].key(settings))


def new_captioner(settings: Settings) -> Captioner | None:
    """The captioner the settings name, built (not loaded); None for ``none``."""
    backend: Captioner | None = CAPTIONERS[captioner_backend(settings)].make(settings)
    return backend


def new_writer(settings: Settings) -> Writer | None:
    """The writer the settings name, built (not loaded); None for ``none``."""
    backend: Writer | None = WRITERS[settings.backend].make(settings)
    return backend


# The built-in backends -----------------------------------------------------------------------


@register_captioner("blip", key=lambda s: (s.captioner, s.device, s.batch_size, s.captioner_precision), label=lambda s: s.captioner)
def _blip(settings: Settings) -> Captioner:
    from alttext.pipeline.caption import Captioner as Blip

    return Blip(settings.captioner, device=settings.device, batch_size=settings.batch_size, precision=settings.captioner_precision)


def _server_key(settings: Settings) -> tuple[Any, ...]:
    return (captioner_base_url(settings), captioner_model(settings), settings.timeout, settings.retries, settings.concurrency,
            settings.batch_size)


def _server_label(settings: Settings) -> str:
    from alttext.pipeline.captioner_openai import VISION_PROMPT_VERSION

    return f"openai:{captioner_model(settings)} ({VISION_PROMPT_VERSION})"


@register_captioner("openai", key=_server_key, label=_server_label)
def _openai_captioner(settings: Settings) -> Captioner:
    from alttext.pipeline.captioner_openai import OpenAICaptioner, vision_settings

    return OpenAICaptioner(
        vision_settings(captioner_base_url(settings), captioner_model(settings), timeout=settings.timeout, retries=settings.retries,
                        concurrency=settings.concurrency),
        batch_size=settings.batch_size,
    )


@register_captioner("none", key=lambda s: (), label=lambda s: "none")
def _no_captioner(settings: Settings) -> None:
    return None


@register_writer("transformers", key=lambda s: (s.writer_model, s.device, s.batch_size, s.quantize))
def _transformers(settings: Settings) -> Writer:
    from alttext.pipeline.writer_transformers import TransformersWriter

    return TransformersWriter(settings.writer_model, device=settings.device, batch_size=settings.batch_size, quantize=settings.quantize)


@register_writer("openai", key=lambda s: (s.writer_model, s.base_url, s.timeout, s.retries, s.concurrency))
def _openai_writer(settings: Settings) -> Writer:
    from alttext.pipeline.writer_openai import OpenAISettings, OpenAIWriter

    return OpenAIWriter(OpenAISettings(base_url=settings.base_url, model=settings.writer_model, timeout=settings.timeout,
                                       retries=settings.retries, concurrency=settings.concurrency))


@register_writer("none", key=lambda s: (), label=lambda s: "")
def _no_writer(settings: Settings) -> None:
    return None
