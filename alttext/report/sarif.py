"""SARIF 2.1.0, as GitHub code scanning accepts it (paths relative to the repository root)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from alttext import __version__, messages
from alttext.model import LEVELS, Finding, Report

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
HELP = "https://www.w3.org/WAI/WCAG22/Understanding/non-text-content.html"
# The guidance alttext implements. (The project has no public home page yet: a URL that does not
# answer would be a broken link in every code-scanning alert.)
INFORMATION = "https://www.w3.org/WAI/tutorials/images/"
_NAMES = {"ALT001": "ImageMissingAltText", "ALT002": "ImageWeakAltText", "ALT003": "LinkedImageMissingAltText"}
_FULL = {
    "ALT001": "Images need a text alternative (WCAG 1.1.1). Write alt text that says what the image "
    "shows, or mark a decorative image with alt=\"\".",
    "ALT002": "Alt text that is a file name, a vague word, a placeholder or starts with \"image of\" "
    "tells a screen reader user nothing.",
    "ALT003": "An image that is the only content of a link gives the link its name: it can never be "
    "decorative. Describe where the link goes.",
}


def _rule(rule: str) -> dict[str, Any]:
    return {
        "id": rule,
        "name": _NAMES[rule],
        "shortDescription": {"text": messages.RULES[rule]},
        "fullDescription": {"text": _FULL[rule]},
        "helpUri": HELP,
        "defaultConfiguration": {"level": LEVELS[rule]},
    }


def _artifact(path: str) -> dict[str, Any]:
    return {"artifactLocation": {"uri": quote(path), "uriBaseId": "%SRCROOT%"}}


def _result(f: Finding, rule_ids: list[str]) -> dict[str, Any]:
    region = {"startLine": f.line, "startColumn": f.column, "endLine": f.end_line, "endColumn": f.end_column}
    return {
        "ruleId": f.rule,
        "ruleIndex": rule_ids.index(f.rule),
        "level": LEVELS[f.rule],
        "message": {"text": f.message},
        "locations": [{"physicalLocation": {**_artifact(f.path), "region": region}}],
    }


def _invocation(report: Report) -> dict[str, Any]:
    return {
        "executionSuccessful": not report.errors,
        "toolExecutionNotifications": [
            {"level": "error", "message": {"text": e.message}, "locations": [{"physicalLocation": _artifact(e.path)}]}
            for e in report.errors
        ],
    }


def render(report: Report) -> str:
    rule_ids = sorted(messages.RULES)
    driver = {"name": "alttext", "version": __version__, "informationUri": INFORMATION, "rules": [_rule(r) for r in rule_ids]}
    run = {
        "tool": {"driver": driver},
        "invocations": [_invocation(report)],
        "columnKind": "unicodeCodePoints",
        "results": [_result(f, rule_ids) for f in report.findings],
    }
    sarif = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(sarif, indent=2, ensure_ascii=False) + "\n"
