"""``alttext watch``: add alt text to new images as pages are saved."""

from __future__ import annotations

import argparse
import os
import sys

from alttext import messages
from alttext.config import load_settings
from alttext.fixing.watch import watch  # watchdog is imported when watching starts: without it, one line naming the extra
from alttext.model import EXIT_ERROR
from alttext.options import given
from alttext.pipeline.describe import preflight
from alttext.pipeline.evidence.ocr import OCRUnavailable


def run(args: argparse.Namespace) -> int:
    settings = load_settings(given(args), config_path=args.config)
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        print(messages.ERR_NOT_FOUND.format(path=missing[0]), file=sys.stderr)
        return EXIT_ERROR
    if args.debounce < 0:
        print(messages.USAGE_ERROR.format(detail="--debounce must be 0 or more seconds"), file=sys.stderr)
        return EXIT_ERROR
    try:
        note = preflight(settings)
    except OCRUnavailable as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    if note:
        print(note, file=sys.stderr)
    return watch(args.paths, settings, report=args.report, debounce=args.debounce)
