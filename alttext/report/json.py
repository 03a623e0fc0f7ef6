"""The JSON report. Its schema is documented in docs/output-formats.md and versioned by ``schema_version``."""

from __future__ import annotations

import json

from alttext import __version__
from alttext.model import Report

SCHEMA_VERSION = 1


def as_dict(report: Report) -> dict[str, object]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "alttext", "version": __version__},
        "summary": {
            "files_checked": report.files_checked,
            "files_with_findings": report.files_with_findings,
            "findings": len(report.findings),
            "errors": len(report.errors),
        },
        "findings": [
            {
                "path": f.path,
                "line": f.line,
                "column": f.column,
                "end_line": f.end_line,
                "end_column": f.end_column,
                "rule": f.rule,
                "message": f.message,
                "src": f.src,
                "alt": f.alt,
                "element": f.element,
                "syntax": f.syntax,
                "engine": f.engine,
                "exact": f.exact,
            }
            for f in report.findings
        ],
        "errors": [{"path": e.path, "message": e.message} for e in report.errors],
    }


def render(report: Report) -> str:
    return json.dumps(as_dict(report), indent=2, ensure_ascii=False) + "\n"
