"""``alttext describe``: write alt text for image files."""

from __future__ import annotations

import argparse
import json
import sys

from alttext.config import load_settings
from alttext.model import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, Context
from alttext.options import given
from alttext.pipeline.interface import BackendError
from alttext.pipeline.cache import open_cache
from alttext.pipeline.describe import describe, preflight
from alttext.pipeline.evidence.ocr import OCRUnavailable
from alttext.pipeline.models import ModelLoadError
from alttext.progress import Progress


def run(args: argparse.Namespace) -> int:
    settings = load_settings(given(args), config_path=args.config)
    cache = open_cache(settings, lambda line: print(line, file=sys.stderr))
    try:
        note = preflight(settings)
        if note:
            print(note, file=sys.stderr)
        results = describe(args.images, [Context(sentence=args.context or "")] * len(args.images), settings,
                           cache=cache, progress=Progress.on_terminal())
    except (ModelLoadError, BackendError, OCRUnavailable) as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    finally:
        if cache is not None:
            cache.close()
    if args.format == "json":
        print(json.dumps([d.as_dict() for d in results], indent=2, ensure_ascii=False))
    for d in results:
        if d.error:
            print(d.error, file=sys.stderr)
        elif not d.text:
            print(f"{d.image}: {d.reason or 'no description could be written'}", file=sys.stderr)
        elif args.format == "text":
            print(f"{d.image}: {d.text}")
    return EXIT_FINDINGS if any(d.error or not d.text for d in results) else EXIT_CLEAN
