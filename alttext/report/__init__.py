"""Formatters: a Report in, the text for stdout out."""

from __future__ import annotations

from collections.abc import Callable

from alttext.model import Report
from alttext.report import github, gitlab, json, junit, sarif, text


def render(report: Report, fmt: str, color: bool = False) -> str:
    formatters: dict[str, Callable[[Report], str]] = {
        "text": text.render,
        "json": json.render,
        "sarif": sarif.render,
        "github": github.render,
        "junit": junit.render,
        "gitlab": gitlab.render,
    }
    return text.render(report, color) if fmt == "text" else formatters[fmt](report)
