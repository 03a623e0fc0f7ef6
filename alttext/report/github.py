"""GitHub Actions workflow commands (``::error file=…::…``), escaped as actions/toolkit does."""

from __future__ import annotations

from alttext.model import Report
from alttext.model import LEVELS


def escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def render(report: Report) -> str:
    lines = []
    for f in report.findings:
        props = (
            f"file={escape_property(f.path)},line={f.line},col={f.column},"
            f"endLine={f.end_line},endColumn={f.end_column},title={f.rule}"
        )
        lines.append(f"::{LEVELS[f.rule]} {props}::{escape_data(f.message)}\n")
    for e in report.errors:
        lines.append(f"::error file={escape_property(e.path)},title=alttext::{escape_data(e.message)}\n")
    return "".join(lines)


# GitHub shows at most this many annotations of each level per step; the rest are only in the log.
ANNOTATION_LIMIT = 10


def limit_notice(report: Report) -> str:
    """A notice when some annotations will not show, saying where all of them are."""
    errors = sum(LEVELS[f.rule] == "error" for f in report.findings) + len(report.errors)
    warnings = sum(LEVELS[f.rule] == "warning" for f in report.findings)
    if max(errors, warnings) <= ANNOTATION_LIMIT:
        return ""
    total = len(report.findings) + len(report.errors)
    return (f"::notice title=alttext::{total} findings and errors; GitHub shows {ANNOTATION_LIMIT} annotations of each level "
            f"per step, so see the job summary or this log for all of them\n")


def step_summary(report: Report) -> str:
    """A Markdown table for ``$GITHUB_STEP_SUMMARY``: every finding, with its place."""
    lines = [f"### alttext: {len(report.findings)} {'finding' if len(report.findings) == 1 else 'findings'} "
             f"in {report.files_checked} files checked", ""]
    if report.findings or report.errors:
        lines += ["| file | line | rule | message |", "| --- | --- | --- | --- |"]
        lines += [f"| `{_cell(f.path)}` | {f.line} | {f.rule} | {_cell(f.message)} |" for f in report.findings]
        lines += [f"| `{_cell(e.path)}` | | error | {_cell(e.message)} |" for e in report.errors]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "'").replace("\n", " ")
