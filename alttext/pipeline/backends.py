"""Captioner and writer backends: one small declared interface each, chosen by name.

As simonw's llm registers model plugins, each backend registers a factory under its name
(``register_captioner``, ``register_writer``), and the pipeline asks for the one the settings name.
The interfaces (``Captioner``, ``Writer``, in ``interface``) declare every ability the pipeline
uses, so it calls them directly and never asks an object what it can do; the base classes
(``CaptionerBase``, ``WriterBase``) give each ability its plain default. Built in:

- captioners: ``blip`` (in process, ``alttext.pipeline.caption``), ``openai`` (any
  OpenAI-compatible chat server that accepts images, ``alttext.pipeline.captioner_openai``) and
  ``none`` (no captions: the picture's text, kind, metadata and colours alone);
- writers: ``transformers`` (in process), ``openai`` (an OpenAI-compatible server) and ``none``
  (the alt text composed from the evidence).

Nothing heavy is imported here: a factory imports its backend when it is called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alttext.model import Settings
# The plugin API (docs/backends.md) is this module: a backend imports the interfaces and base
# classes (declared in interface.py) from here, beside register_captioner and register_writer.
# BackendError, CaptionerBase and WriterBase are imported for that alone.
from alttext.pipeline.interface import BackendError, Captioner, CaptionerBase, Writer, WriterBase  # noqa: F401


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


def writer_label(settings: Settings) -> str:
    """The writer as descriptions, reports and the cache name it: its model, or '' for ``none``
    (no model writes: the text is composed from the evidence)."""
    return WRITERS[settings.backend].label(settings)


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
