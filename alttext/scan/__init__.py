"""Scanning: pure and ML-free. Text in, findings out."""

from __future__ import annotations

from alttext import messages
from alttext.model import Finding, Settings
from alttext.scan.events import MAX_NESTING, Event, ImageEvent, MarkerEvent
from alttext.scan.lines import LineIndex
from alttext.scan.paths import GlobSet, kind_of, relative_path
from alttext.scan.rules import RULE_IDS, may_hold_image, weak_reason


def enabled_rules(settings: Settings, path: str) -> set[str]:
    """The rules that apply to ``path``: ALT001 and ALT003, with ALT002 under ``strict``; or the
    ``select``ed ones; less the ``ignore``d ones and the file's ``per-file-ignores``."""
    rules = set(settings.select) if settings.select else {"ALT001", "ALT003", *(("ALT002",) if settings.strict else ())}
    rules -= set(settings.ignore)
    if settings.per_file_ignores:
        rel = relative_path(path, settings.root)
        for pattern, ignored in settings.per_file_ignores:
            if GlobSet([pattern]).match(rel):
                rules -= set(ignored)
    return rules


def events_of(text: str, kind: str, engine: str, index: LineIndex | None = None) -> list[Event]:
    # Each reader loads when first needed: a run over HTML alone never loads markdown-it.
    if kind == "markdown":
        from alttext.scan.markdown import scan_markdown

        return scan_markdown(text, index, engine=engine)
    from alttext.scan.html import scan_html

    return scan_html(text, engine)


def scan_text(
    path: str, text: str, settings: Settings, kind: str | None = None, engine: str | None = None,
    warnings: list[str] | None = None, unchecked: list[str] | None = None, images: list[ImageEvent] | None = None,
) -> tuple[Finding, ...]:
    """Findings for one decoded document, in document order. ``warnings`` collects a line for each
    comment that looks like an alttext directive and is none; ``unchecked`` (else ``warnings``) a
    line for each part too deeply nested to be checked; ``images`` every image, flagged or not, in
    the order the readers report them (fix compares them before and after an edit)."""
    kind = kind or kind_of(path)
    engine = engine or ("gfm" if kind == "markdown" else "html")
    if not may_hold_image(text, engine):
        return ()
    index = LineIndex(text)
    events = events_of(text, kind, engine, index)
    if not events:
        return ()
    if images is not None:
        images.extend(e for e in events if isinstance(e, ImageEvent))
    # A marker and an image at one offset cannot happen, but keep markers first if it did.
    events.sort(key=lambda e: (e.start, isinstance(e, ImageEvent)))
    allowed = enabled_rules(settings, path)
    # <!-- alttext-disable-file --> speaks for the whole file, wherever it stands.
    for event in events:
        if isinstance(event, MarkerEvent) and event.kind == "disable-file":
            allowed -= set(event.rules or RULE_IDS)
    enabled = set(allowed)
    findings: list[Finding] = []
    pending: tuple[str, int] | None = None
    for event in events:
        if isinstance(event, MarkerEvent):
            if event.kind in ("ignore", "decorative"):
                pending = (event.kind, index.position(max(event.end - 1, event.start))[0])
            elif event.kind == "disable":
                enabled -= set(event.rules or RULE_IDS)
            elif event.kind == "enable":
                enabled |= set(event.rules or RULE_IDS) & allowed
            else:
                _note(event, path, index, warnings, unchecked if unchecked is not None else warnings)
            continue
        line = index.position(event.start)[0]
        # A marker speaks for the next image only, on its own line or the line after it.
        marker = pending[0] if pending and line - pending[1] in (0, 1) else None
        pending = None
        ruled = _rule(event, marker, enabled, settings.languages)
        if ruled:
            findings.append(finding_at(path, event, index, *ruled, engine))
    return tuple(findings)


def _note(event: MarkerEvent, path: str, index: LineIndex, warnings: list[str] | None, unchecked: list[str] | None) -> None:
    """The line for a comment that looks like a directive and is none, or for a part too deeply
    nested to be checked."""
    line, column = index.position(event.start)
    if event.kind == "unknown" and warnings is not None:
        warnings.append(messages.UNKNOWN_DIRECTIVE.format(path=path, line=line, column=column, text=event.rules[0]))
    elif event.kind == "too-deep" and unchecked is not None:
        unchecked.append(messages.TOO_DEEP.format(path=path, line=line, column=column, limit=MAX_NESTING))


def _rule(event: ImageEvent, marker: str | None, enabled: set[str], languages: tuple[str, ...]) -> tuple[str, str] | None:
    """The rule ``event`` breaks and its message, under the marker before it and the enabled rules."""
    if marker == "ignore":
        return None
    verdict = event.verdict
    rule, message = verdict.rule, verdict.message
    # ALT003 stays: an image that is all its link holds is never decorative.
    if rule == "ALT001" and marker == "decorative":
        return None
    if rule is None:
        if not ("ALT002" in enabled and verdict.alt and not verdict.decorative and not verdict.dynamic):
            return None
        reason = weak_reason(verdict.alt, event.src, languages)
        if reason is None:
            return None
        rule = "ALT002"
        message = messages.WEAK.format(src=event.src, alt=" ".join(verdict.alt.split()), reason=reason)
    return (rule, message) if rule in enabled else None


def finding_at(path: str, event: ImageEvent, index: LineIndex, rule: str, message: str, engine: str) -> Finding:
    """The finding ``rule`` for the image ``event``, at the lines and columns ``check`` reports."""
    line, column = index.position(event.start)
    end_line, end_column = index.position(event.end)
    return Finding(path=path, line=line, column=column, end_line=end_line, end_column=end_column, rule=rule, message=message,
                   src=event.src, alt=event.verdict.alt, element=event.element, syntax=event.syntax, start=event.start,
                   end=event.end, exact=event.exact, engine=engine)
