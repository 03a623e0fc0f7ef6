"""``alttext models``: the configured models and where they are; ``pull`` downloads them."""

from __future__ import annotations

import argparse
import sys

from alttext import messages
from alttext.config import load_settings
from alttext.model import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, Settings
from alttext.options import given
from alttext.pipeline import models
from alttext.pipeline.backends import captioner_backend, captioner_base_url, captioner_model
from alttext.pipeline.evidence import ocr


def run(args: argparse.Namespace) -> int:
    settings = load_settings(given(args), config_path=args.config)
    wanted = []
    if captioner_backend(settings) == "blip":  # a captioner on a server, or none, downloads nothing
        wanted.append(("captioner", settings.captioner, "captioner"))
    if settings.backend == "transformers":
        wanted.append(("writer", settings.writer_model, "writer_model"))
    found = [models.find(model, role, key) for role, model, key in wanted]
    if args.action == "pull":
        absent = [f for f in found if f.hub and not f.where]
        if absent and not models.hub_reachable():
            print(messages.MODELS_OFFLINE, file=sys.stderr)
            return EXIT_ERROR
        for f in absent:
            print(messages.MODELS_PULLING.format(role=f.role, model=f.model), file=sys.stderr)
            models.pull(f.model)
        found = [models.find(f.model, f.role, f.key) for f in found]
    for f in found:
        where = f"{f.where}  {messages.size(f.size)}" if f.where else messages.MODELS_ABSENT
        print(messages.MODELS_ROW.format(role=f.role, model=f.model, where=where))
    _servers_and_ocr(settings)
    return EXIT_CLEAN if all(f.where for f in found) else EXIT_FINDINGS


def _servers_and_ocr(settings: Settings) -> None:
    if captioner_backend(settings) == "openai":
        print(messages.MODELS_ROW.format(role="captioner", model=captioner_model(settings),
                                         where=messages.MODELS_ON_SERVER.format(base_url=captioner_base_url(settings))))
    if settings.backend == "openai":
        print(messages.MODELS_ROW.format(role="writer", model=settings.writer_model, where=messages.MODELS_ON_SERVER.format(base_url=settings.base_url)))
    print(messages.MODELS_ROW.format(role="ocr", model=ocr.engine_version() if ocr.available() else "none",
                                     where="(its models are inside the package)" if ocr.available() else "pip install 'alttext[ocr]'"))
