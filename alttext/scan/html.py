"""Images in HTML, located with the stdlib parser (BeautifulSoup is never used to locate)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser

from alttext.scan.events import Event, ImageEvent, MarkerEvent
from alttext.scan.lines import lf_starts
from alttext.scan.rules import IMAGE_TAG, html_verdict, jsx_value, linked_verdict, marker_kind, names_its_link
from alttext.scan.templates import prepare_hugo, prepare_jekyll, reveal

# Content that browsers never render as elements. <script> and <style> are raw text to
# html.parser already.
_OPAQUE = frozenset({"template", "textarea", "title"})
_IMAGES = frozenset({"img", "input", "area"})


@dataclass
class _Link:
    """An open ``<a href>``: is it named by something other than its images?"""

    named: bool  # the link has its own aria-label or aria-labelledby
    text: bool = False
    images: list[tuple[int, bool]] = field(default_factory=list)  # (event index, names the link)

    def close(self, events: list[Event]) -> None:
        """With no name of its own, a link's nameless images become ALT003."""
        if self.named or self.text or any(names for _, names in self.images):
            return
        for index, _ in self.images:
            event = events[index]
            assert isinstance(event, ImageEvent)
            events[index] = replace(event, verdict=linked_verdict(event.src, event.verdict.alt))


_A_OPEN = re.compile(r"<a\s[^>]*?\bhref\b", re.IGNORECASE)
_A_CLOSE = re.compile(r"</a\s*>", re.IGNORECASE)
_A_NAMED = re.compile(r"""\baria-label(?:ledby)?\s*=\s*(?:"[^"]*\S[^"]*"|'[^']*\S[^']*'|[^\s"'>]+)""", re.IGNORECASE)


def link_open(tag: str) -> _Link | None:
    """A link context for a raw ``<a href …>`` tag met in Markdown inline HTML."""
    return _Link(bool(_A_NAMED.search(tag))) if _A_OPEN.match(tag) else None


def link_close(tag: str) -> bool:
    return bool(_A_CLOSE.match(tag))


class _Collector(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self._starts = lf_starts(text)
        self._opaque = 0
        self._link: _Link | None = None
        self.events: list[Event] = []

    def _offset(self) -> int:
        line, col = self.getpos()
        return self._starts[line - 1] + col

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _IMAGES:
            self._image(tag, attrs)
        elif tag in _OPAQUE:
            self._opaque += 1
        elif tag == "a" and not self._opaque:
            self._close_link()
            attrs = [(k, reveal(v) if v else v) for k, v in attrs]
            if any(k == "href" for k, _ in attrs):
                named = any(k in ("aria-label", "aria-labelledby") and (v or "").strip() for k, v in attrs)
                self._link = _Link(named)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _IMAGES:
            self._image(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _OPAQUE and self._opaque:
            self._opaque -= 1
        elif tag == "a":
            self._close_link()

    def handle_data(self, data: str) -> None:
        if self._link is not None and data.strip():
            self._link.text = True

    def handle_comment(self, data: str) -> None:
        said = marker_kind(data)
        if said and not self._opaque:
            start = self._offset()
            self.events.append(MarkerEvent(start, start + len(data) + 7, *said))

    def close(self) -> None:
        super().close()
        self._close_link()

    def _close_link(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            link.close(self.events)

    def _image(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._opaque:
            return
        attrs = [(k, jsx_value(reveal(v)) if v else v) for k, v in attrs]
        judged = html_verdict(tag, attrs)
        if judged is None:
            return
        verdict, src = judged
        start = self._offset()
        raw = self.get_starttag_text() or ""
        names = tag == "img" and names_its_link(verdict, attrs)
        if self._link is not None and tag == "img":
            self._link.images.append((len(self.events), names))
        self.events.append(ImageEvent(start, start + len(raw), tag, "html", src, verdict, names_link=names))


def prepare_html(text: str, engine: str) -> str:
    """Neutralise site templating (Liquid for Jekyll, Go templates for Hugo) without moving text."""
    if engine == "jekyll":
        return prepare_jekyll(text).text
    if engine == "hugo":
        return prepare_hugo(text, shortcodes=False).text
    return text


def scan_html(text: str, engine: str = "html", *, prepared: bool = False) -> list[Event]:
    """Images and markers in ``text``, with offsets into ``text``.

    ``prepared``: the text comes from a Markdown scan that already neutralised templating.
    """
    # No image-like tag and no marker (Markdown hands over marker comments alone): no parse.
    if "alttext" not in text and not IMAGE_TAG.search(text):
        return []
    collector = _Collector(text)
    collector.feed(text if prepared else prepare_html(text, engine))
    collector.close()
    return collector.events
