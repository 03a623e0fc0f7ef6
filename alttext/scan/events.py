"""What the scanners emit: images and marker comments, at offsets into the decoded text."""

from __future__ import annotations

from dataclasses import dataclass

from alttext.scan.rules import Verdict


@dataclass(frozen=True)
class ImageEvent:
    start: int
    end: int
    element: str  # img, input, area, markdown
    syntax: str  # html, md-inline, md-reference, md-collapsed, md-shortcut
    src: str
    verdict: Verdict
    exact: bool = True
    names_link: bool = False  # gives an enclosing link its accessible name


@dataclass(frozen=True)
class MarkerEvent:
    start: int
    end: int
    kind: str  # decorative | ignore | disable | enable | disable-file | unknown | too-deep (nothing inside parsed)
    rules: tuple[str, ...] = ()  # the rules a directive names (none: all); an unknown one's text


Event = ImageEvent | MarkerEvent
