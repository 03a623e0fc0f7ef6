"""Scanning: pure and ML-free. Text in, findings out."""

from __future__ import annotations

import os

from alttext import messages
from alttext.model import Finding, Settings
from alttext.scan.events import Event, ImageEvent, MarkerEvent
from alttext.scan.lines import LineIndex
from alttext.scan.rules import may_hold_image, weak_reason

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mdx"})


def kind_of(path: str) -> str:
    return "markdown" if os.path.splitext(path)[1].lower() in MARKDOWN_SUFFIXES else "html"


def events_of(text: str, kind: str, engine: str, index: LineIndex | None = None) -> list[Event]:
    if kind == "markdown":
        from alttext.scan.markdown import scan_markdown

        return scan_markdown(text, index, engine=engine)
    from alttext.scan.html import scan_html

    return scan_html(text, engine)


def scan_text(
    path: str, text: str, settings: Settings, kind: str | None = None, engine: str | None = None
) -> tuple[Finding, ...]:
    """Findings for one decoded document, in document order."""
    kind = kind or kind_of(path)
    engine = engine or ("gfm" if kind == "markdown" else "html")
    if not may_hold_image(text, engine):
        return ()
    index = LineIndex(text)
    events = events_of(text, kind, engine, index)
    if not events:
        return ()
    # A marker and an image at one offset cannot happen, but keep markers first if it did.
    events.sort(key=lambda e: (e.start, isinstance(e, ImageEvent)))
    findings: list[Finding] = []
    pending: tuple[str, int] | None = None
    for event in events:
        if isinstance(event, MarkerEvent):
            pending = (event.kind, index.position(max(event.end - 1, event.start))[0])
            continue
        line, column = index.position(event.start)
        # A marker speaks for the next image only, on its own line or the line after it.
        marker = pending[0] if pending and line - pending[1] in (0, 1) else None
        pending = None
        if marker == "ignore":
            continue
        verdict = event.verdict
        rule, message = verdict.rule, verdict.message
        # ALT003 stays: an image that is all its link holds is never decorative.
        if rule == "ALT001" and marker == "decorative":
            continue
        if rule is None:
            if not (settings.strict and verdict.alt and not verdict.decorative and not verdict.dynamic):
                continue
            reason = weak_reason(verdict.alt, event.src, settings.languages)
            if reason is None:
                continue
            rule = "ALT002"
            message = messages.WEAK.format(src=event.src, alt=" ".join(verdict.alt.split()), reason=reason)
        end_line, end_column = index.position(event.end)
        findings.append(
            Finding(
                path=path,
                line=line,
                column=column,
                end_line=end_line,
                end_column=end_column,
                rule=rule,
                message=message,
                src=event.src,
                alt=verdict.alt,
                element=event.element,
                syntax=event.syntax,
                start=event.start,
                end=event.end,
                exact=event.exact,
                engine=engine,
            )
        )
    return tuple(findings)
