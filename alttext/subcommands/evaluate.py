"""``alttext eval``: measure alt text quality on a dataset, or compare two reports."""

from __future__ import annotations

import argparse
import json
import sys

from alttext import messages
from alttext.config import load_settings
from alttext.eval import evaluation
from alttext.fixing.write import write_atomic
from alttext.model import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS
from alttext.options import given
from alttext.pipeline.interface import BackendError
from alttext.pipeline.describe import preflight
from alttext.pipeline.evidence.ocr import OCRUnavailable
from alttext.pipeline.models import ModelLoadError
from alttext.progress import Progress


def run(args: argparse.Namespace) -> int:
    if bool(args.dataset) == bool(args.compare):
        print(messages.USAGE_ERROR.format(detail=messages.EVAL_USAGE), file=sys.stderr)
        return EXIT_ERROR
    if args.compare:
        return _compare(args.compare)
    settings = load_settings(given(args), config_path=args.config)
    try:
        items = evaluation.load_dataset(args.dataset, settings, args.from_caption)
        note = preflight(settings)
        if note:
            print(note, file=sys.stderr)
        scores = evaluation.evaluate(items, settings, from_caption=args.from_caption, progress=Progress.on_terminal())
    except (evaluation.DatasetError, ModelLoadError, BackendError, OCRUnavailable) as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    data = evaluation.report(scores, settings, args.dataset, args.from_caption)
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    if args.output:
        try:
            write_atomic(args.output, text.encode("utf-8"), None)
        except OSError as exc:
            print(messages.FIX_UNWRITABLE.format(path=args.output, reason=exc.strerror or exc), file=sys.stderr)
            return EXIT_ERROR
    sys.stdout.write(text if args.format == "json" else evaluation.render(data))
    for s in scores:
        if s.error:
            print(s.error, file=sys.stderr)
    return EXIT_FINDINGS if any(s.error for s in scores) else EXIT_CLEAN


def _compare(paths: list[str]) -> int:
    try:
        a, b = (evaluation.load_report(path) for path in paths)
    except evaluation.DatasetError as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    text, worse = evaluation.compare(a, b, *paths)
    sys.stdout.write(text)
    return EXIT_FINDINGS if worse else EXIT_CLEAN
