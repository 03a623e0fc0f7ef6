"""``alttext cache``: show or clear the description cache."""

from __future__ import annotations

import argparse
import sys

from alttext import messages
from alttext.config import load_settings
from alttext.model import EXIT_CLEAN, EXIT_ERROR
from alttext.pipeline import cache


def run(args: argparse.Namespace) -> int:
    settings = load_settings({}, config_path=args.config)
    folder = cache.folder_for(settings)
    if args.action == "clear":
        try:
            entries = cache.clear(folder)
        except OSError as exc:
            print(messages.CACHE_UNUSABLE.format(path=folder, reason=exc.strerror or exc), file=sys.stderr)
            return EXIT_ERROR
        print(messages.CACHE_CLEARED.format(path=folder, entries=entries, entries_word=messages.plural(entries, "entry", "entries")), file=sys.stderr)
        return EXIT_CLEAN
    stats = cache.Cache(folder, lambda line: print(line, file=sys.stderr)).stats()
    if not stats.size:
        print(messages.CACHE_NONE.format(path=stats.path))
        return EXIT_CLEAN
    print(messages.CACHE_STATS.format(
        path=stats.path, entries=stats.entries, entries_word=messages.plural(stats.entries, "entry", "entries"),
        images=stats.images, images_word=messages.plural(stats.images, "image"), size=messages.size(stats.size)))
    return EXIT_CLEAN
