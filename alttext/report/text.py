"""Compiler-style lines: ``path:line:col: ALT001 image "x.png" has no alt text``."""

from __future__ import annotations

from collections.abc import Sequence

from alttext import messages
from alttext.escape import terminal
from alttext.model import Report


BOLD, RED, YELLOW, RESET = "\x1b[1m", "\x1b[31m", "\x1b[33m", "\x1b[0m"


def render(report: Report, color: bool = False) -> str:
    # A path or src from the page is shown, never obeyed: its control characters print as escapes.
    if not color:
        return "".join(f"{terminal(f.path)}:{f.line}:{f.column}: {f.rule} {terminal(f.message)}\n" for f in report.findings)
    return "".join(f"{BOLD}{terminal(f.path)}{RESET}:{f.line}:{f.column}: {YELLOW if f.rule == 'ALT002' else RED}{f.rule}{RESET} "
                   f"{terminal(f.message)}\n" for f in report.findings)


def summary(report: Report, paths: Sequence[str] = ()) -> list[str]:
    """Lines for stderr. Nothing is called clean that was not checked: a path that does not exist
    is an error line only, and a folder with no HTML or Markdown says so."""
    files = report.files_checked
    lines = []
    if not files and not report.findings:  # the error lines, if any, said it all
        return [] if report.errors else [messages.SUMMARY_NOTHING.format(paths=", ".join(paths or ["."]))]
    if report.findings:
        n, w = len(report.findings), report.files_with_findings
        lines.append(
            messages.SUMMARY_FINDINGS.format(
                findings=n,
                findings_word=messages.plural(n, "finding"),
                with_findings=w,
                with_word=messages.plural(w, "file"),
                files=files,
                files_word=messages.plural(files, "file"),
            )
        )
    else:
        lines.append(messages.SUMMARY_CLEAN.format(files=files, files_word=messages.plural(files, "file")))
    if report.errors:
        n = len(report.errors)
        lines.append(messages.SUMMARY_ERRORS.format(errors=n, errors_word=messages.plural(n, "file")))
    return lines
