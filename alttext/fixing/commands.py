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
from dataclasses import dataclass
from typing import Any, TextIO

from alttext import escape, messages
from alttext.escape import line
from alttext.fixing.fix import FileFix, collect, describe_all, new_bytes, plan_file, unified_diff, writable_roots
from alttext.model import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, Settings
from alttext.pipeline.cache import open_cache
from alttext.pipeline.models import ModelLoadError
from alttext.pipeline.describe import preflight
from alttext.pipeline.evidence.ocr import OCRUnavailable
from alttext.pipeline.writer_openai import WriterError
from alttext.progress import Progress
from alttext.fixing.review import ReportError, entries, load, render, reviewed
from alttext.fixing.write import Changed, Refused, roots, write_atomic


@dataclass(frozen=True)
class Mode:
    diff: bool = False
    dry_run: bool = False
    exit_zero_even_if_changed: bool = False
    quiet: bool = False

    @property
    def writes(self) -> bool:
        return not (self.diff or self.dry_run)


def _why_review(dropped: Sequence[str], lint: Sequence[str]) -> str:
    return "; ".join(dropped) if dropped else ("; ".join(dict.fromkeys(lint)) or "the pipeline repaired the text")


def finish(fixes: list[FileFix], errors: list[Any], settings: Settings, mode: Mode, out: TextIO, err: TextIO,
           allowed: Sequence[str] | None, remaining: bool = False) -> int:
    """Edit, verify and (unless told not to) write every file whose real path is under one of
    ``allowed`` (None: anywhere); print what happened. ``remaining``: also say how many images in
    these files still lack alt text (``apply``, whose report may not list them all)."""
    lines = err if mode.diff else out
    failed = bool(errors)
    for error in errors:
        print(escape.terminal(error.message), file=err)
    changed = fixed = left = still = 0
    for fix in fixes:
        plan_file(fix, settings)
        written = False
        if fix.problem:
            print(escape.terminal(fix.problem), file=err)
        elif fix.new_text is not None and fix.new_text != fix.document.text:
            if mode.diff:
                out.write(unified_diff(fix))
            if mode.writes:
                try:
                    write_atomic(fix.path, new_bytes(fix), fix.document.data, allowed)
                    print(line(messages.FIX_REWRITING, path=fix.path), file=err)
                    written = True
                except Refused as exc:
                    print(line(messages.FIX_REFUSED, path=fix.path, reason=str(exc)), file=err)
                except Changed:
                    print(line(messages.FIX_CHANGED, path=fix.path), file=err)
                    failed = True
                except OSError as exc:
                    print(line(messages.FIX_UNWRITABLE, path=fix.path, reason=exc.strerror or str(exc)), file=err)
                    failed = True
            else:
                print(line(messages.FIX_WOULD_REWRITE, path=fix.path), file=err)
                written = True
        changed += written
        for p in fix.proposals:
            f = p.finding
            where = dict(path=fix.path, line=f.line, column=f.column)
            if written and p.reason is None and p.mark_decorative:
                fixed += 1
                print(line(messages.FIX_DECORATIVE if mode.writes else messages.FIX_WOULD_DECORATIVE, src=f.src, **where), file=lines)
            elif written and p.reason is None and p.alt:
                fixed += 1
                template = messages.FIX_ADDED if mode.writes else messages.FIX_PROPOSED
                # The text as written into the file, not as the model said it.
                print(line(template, src=f.src, alt=escape.plain(p.alt), **where), file=lines)
                if p.needs_review:
                    print(line(messages.FIX_REVIEW, why=_why_review(p.dropped, p.lint), **where), file=lines)
            else:
                left += 1
                reason = p.reason or (fix.problem and "the file was left unchanged") or "the file was not written"
                print(line(messages.FIX_NOT_FIXED, rule=f.rule, message=f.message, reason=reason, **where), file=lines)
        written_here = sum(1 for p in fix.proposals if written and p.reason is None and (p.alt or p.mark_decorative))
        still += sum(1 for f in fix.findings if f.rule in ("ALT001", "ALT003")) - written_here
    if not mode.quiet and (fixed or left):
        summary = messages.FIX_SUMMARY if mode.writes else messages.FIX_WOULD_SUMMARY
        print(summary.format(fixed=fixed, fixed_word=messages.plural(fixed, "image"), files=changed,
                             files_word=messages.plural(changed, "file"), left=left), file=err)
    if remaining and not mode.quiet and fixes:
        template = messages.APPLY_STILL if mode.writes else messages.APPLY_WOULD_STILL
        print(template.format(count=still, images=messages.plural(still, "image"), files=len(fixes),
                              files_word=messages.plural(len(fixes), "file"), lack="lacks" if still == 1 else "lack"), file=err)
    if failed:
        return EXIT_ERROR
    if left or (changed and not mode.exit_zero_even_if_changed):
        return EXIT_FINDINGS
    return EXIT_CLEAN


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
            rows = entries(fixes, settings)
            with open(report, "w", encoding="utf-8", newline="") as f:
                f.write(render(rows, report))
            for error in errors:
                print(escape.terminal(error.message), file=err)
            print(messages.REPORT_WRITTEN.format(entries=len(rows), entries_word=messages.plural(len(rows), "entry", "entries"), path=report), file=err)
            return EXIT_ERROR if errors else (EXIT_FINDINGS if rows else EXIT_CLEAN)
        return finish(fixes, errors, settings, mode, out, err, writable_roots(paths, settings))


def apply(reports: str | Sequence[str], settings: Settings, mode: Mode, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Write one or more reviewed reports (the reports of a site's shards, together)."""
    out, err = out or sys.stdout, err or sys.stderr
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[str, int, int], str] = {}
    conflicts: list[str] = []
    for report in [reports] if isinstance(reports, str) else reports:
        try:
            loaded = load(report)
        except ReportError as exc:
            print(exc, file=err)
            return EXIT_ERROR
        for row in loaded:
            # The same image in two reports (shards that overlapped, a report given twice): once.
            key = (os.path.normpath(str(row["path"])), row["start"], row["end"])
            alt = escape.plain(str(row.get("alt") or ""))
            if key not in seen:
                seen[key] = alt
                rows.append(row)
            elif seen[key] != alt and alt:
                conflicts.append(messages.APPLY_SKIPPED.format(path=row["path"], line=row["line"], column=row["column"],
                                                               reason=f"{report} gives this image another alt text than an earlier report"))
    fixes, skipped, errors = reviewed(rows, settings)
    for skip in (*conflicts, *skipped):
        print(escape.terminal(skip), file=err)
    allowed = None if settings.follow_symlinks else roots(settings.root)  # a report names pages of this project only
    rc = finish(fixes, errors, settings, mode, out, err, allowed, remaining=True)
    return EXIT_FINDINGS if (skipped or conflicts) and rc == EXIT_CLEAN else rc
