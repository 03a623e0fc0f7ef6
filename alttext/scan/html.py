"""Images in HTML, located with the stdlib parser (BeautifulSoup is never used to locate)."""

from __future__ import annotations

from html.parser import HTMLParser

from alttext.scan.events import Event, ImageEvent, MarkerEvent
from alttext.scan.lines import lf_starts
from alttext.scan.rules import IMAGE_TAG, html_verdict, marker_kind

# Content that browsers never render as elements. <script> and <style> are raw text to
# html.parser already.
_OPAQUE = frozenset({"template", "textarea", "title"})
_IMAGES = frozenset({"img", "input", "area"})


class _Collector(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self._starts = lf_starts(text)
        self._opaque = 0
        self.events: list[Event] = []

    def _offset(self) -> int:
        line, col = self.getpos()
        return self._starts[line - 1] + col

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _IMAGES:
            self._image(tag, attrs)
        elif tag in _OPAQUE:
            self._opaque += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _IMAGES:
            self._image(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _OPAQUE and self._opaque:
            self._opaque -= 1

    def handle_comment(self, data: str) -> None:
        kind = marker_kind(data)
        if kind and not self._opaque:
            start = self._offset()
            self.events.append(MarkerEvent(start, start + len(data) + 7, kind))

    def _image(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._opaque:
            return
        judged = html_verdict(tag, attrs)
        if judged is None:
            return
        verdict, src = judged
        start = self._offset()
        raw = self.get_starttag_text() or ""
        self.events.append(ImageEvent(start, start + len(raw), tag, "html", src, verdict))


def scan_html(text: str) -> list[Event]:
    """Images and markers in ``text``, with offsets into ``text``."""
    # No image-like tag and no marker (Markdown hands over marker comments alone): no parse.
    if "alttext:" not in text and not IMAGE_TAG.search(text):
        return []
    collector = _Collector(text)
    collector.feed(text)
    collector.close()
    return collector.events
