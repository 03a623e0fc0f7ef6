"""``alttext fix`` and ``alttext apply``: what they print, write and return.

Output: a line per image on stdout (to stderr with ``--diff``, whose stdout is the patch),
``Rewriting path`` per file and the summary on stderr. Exit codes: 0 nothing needed doing; 1 a
file was (or would be) rewritten or a finding was left unfixed; 2 a file could not be read or
written, or a configuration, model or server problem.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from typing import Any, TextIO

from alttext import escape, messages
from alttext.fixing.finish import Console, Mode
from alttext.fixing.fix import FileFix, collect, describe_all, writable_roots
from alttext.fixing.review import ReportError, entries, load, render, reviewed
from alttext.fixing.write import allowed_roots
from alttext.model import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, FileError, Settings
from alttext.pipeline.cache import open_cache
from alttext.pipeline.describe import preflight
from alttext.pipeline.evidence.ocr import OCRUnavailable
from alttext.pipeline.models import ModelLoadError
from alttext.pipeline.writer_openai import WriterError
from alttext.progress import Progress


def fix(paths: Sequence[str], settings: Settings, mode: Mode, report: str | None = None,
        out: TextIO | None = None, err: TextIO | None = None, shard: tuple[int, int] | None = None,
        **models: Any) -> int:
    """``models``: ``captioner=``/``writer=`` instead of the ones the settings name (tests)."""
    out, err = out or sys.stdout, err or sys.stderr
    if report:
        try:
            render([], report)  # an unknown format is a usage error, before any model loads
        except ReportError as exc:
            print(messages.USAGE_ERROR.format(detail=exc), file=err)
            return EXIT_ERROR
    cache = open_cache(settings, lambda line: print(line, file=err))
    progress = Progress.on_terminal(settings.quiet, err)
    with tempfile.TemporaryDirectory(prefix="alttext-") as workdir:
        fixes, errors = collect(paths, settings, workdir, shard, writes=mode.writes and not report)
        try:
            if any(p.image and p.reason is None for f in fixes for p in f.proposals):
                note = preflight(settings)
                if note and not settings.quiet:
                    print(note, file=err)
            describe_all(fixes, settings, cache=cache, progress=progress, **models)
        except (ModelLoadError, WriterError, OCRUnavailable) as exc:
            print(exc, file=err)
            return EXIT_ERROR
        finally:
            progress.done()
            if cache is not None:
                cache.close()
        if report:
            return _report(report, fixes, errors, settings, err)
        return Console(settings, mode, out, err, writable_roots(paths, settings)).run(fixes, errors)


def _report(report: str, fixes: list[FileFix], errors: list[FileError], settings: Settings, err: TextIO) -> int:
    rows = entries(fixes, settings)
    with open(report, "w", encoding="utf-8", newline="") as f:
        f.write(render(rows, report))
    for error in errors:
        print(escape.terminal(error.message), file=err)
    print(messages.REPORT_WRITTEN.format(entries=len(rows), entries_word=messages.plural(len(rows), "entry", "entries"), path=report), file=err)
    return EXIT_ERROR if errors else (EXIT_FINDINGS if rows else EXIT_CLEAN)


def apply(reports: str | Sequence[str], settings: Settings, mode: Mode, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Write one or more reviewed reports (the reports of a site's shards, together)."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        rows, conflicts = _merged([reports] if isinstance(reports, str) else reports)
    except ReportError as exc:
        print(exc, file=err)
        return EXIT_ERROR
    fixes, skipped, errors = reviewed(rows, settings)
    for skip in (*conflicts, *skipped):
        print(escape.terminal(skip), file=err)
    allowed = allowed_roots(settings.root, settings.follow_symlinks)  # a report names pages of this project only
    rc = Console(settings, mode, out, err, allowed).run(fixes, errors, remaining=True)
    return EXIT_FINDINGS if (skipped or conflicts) and rc == EXIT_CLEAN else rc


def _merged(reports: Sequence[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows of every report, each image once, and a line for each image that two reports
    give different alt texts (the first report's stands)."""
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[str, int, int], str] = {}
    conflicts: list[str] = []
    for report in reports:
        for row in load(report):
            # The same image in two reports (shards that overlapped, a report given twice): once.
            key = (os.path.normpath(str(row["path"])), row["start"], row["end"])
            alt = escape.plain(str(row.get("alt") or ""))
            if key not in seen:
                seen[key] = alt
                rows.append(row)
            elif seen[key] != alt and alt:
                conflicts.append(messages.APPLY_SKIPPED.format(path=row["path"], line=row["line"], column=row["column"],
                                                               reason=f"{report} gives this image another alt text than an earlier report"))
    return rows, conflicts
