"""Compiler-style lines: ``path:line:col: ALT001 image "x.png" has no alt text``."""

from __future__ import annotations

from alttext import messages
from alttext.model import Report


def render(report: Report) -> str:
    return "".join(f"{f.path}:{f.line}:{f.column}: {f.rule} {f.message}\n" for f in report.findings)


def summary(report: Report) -> list[str]:
    """Lines for stderr."""
    files = report.files_checked
    lines = []
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
