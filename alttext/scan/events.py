"""What the scanners emit: images and marker comments, at offsets into the decoded text."""

from __future__ import annotations

from dataclasses import dataclass

from alttext.scan.rules import Verdict

# markdown-it parses nothing inside a container this deep (its guard against deep recursion). The
# commonmark preset's 20 hid images 20 block quotes deep; 100 is markdown-it's default preset's
# value, a few hundred Python frames at most. Past it the scanner says so (a "too-deep" marker).
MAX_NESTING = 100


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
