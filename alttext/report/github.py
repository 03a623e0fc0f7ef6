"""GitHub Actions workflow commands (``::error file=…::…``), escaped as actions/toolkit does."""

from __future__ import annotations

from alttext.model import Report
from alttext.report import LEVELS


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
