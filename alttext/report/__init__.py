"""Formatters: a Report in, the text for stdout out."""

from __future__ import annotations

from collections.abc import Callable

from alttext.model import Report

LEVELS = {"ALT001": "error", "ALT002": "warning", "ALT003": "error"}


def render(report: Report, fmt: str) -> str:
    from alttext.report import github, json, sarif, text

    formatters: dict[str, Callable[[Report], str]] = {
        "text": text.render,
        "json": json.render,
        "sarif": sarif.render,
        "github": github.render,
    }
    return formatters[fmt](report)
