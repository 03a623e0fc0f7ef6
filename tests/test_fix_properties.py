"""Properties of fix on generated documents (LF and CRLF; lists, quotes, tables, links around
images, code, comments): removing the inserted alt text gives back the original byte for byte,
fixing twice equals fixing once, and a scan of the output finds none of the fixed images."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from alttext.fixing.edit import Edit
from alttext.escape import plain
from alttext.model import Settings
from alttext.scan import scan_text
from tests.fixing import fix_text
from tests.test_properties import block, html_image, words

# Alt text from a model is untrusted: quotes, brackets, markup, newlines, controls, any script.
alts = st.lists(
    st.sampled_from(list("ab yzé狗\"'[]()\\`*_<>&|{}!#\n\r\t\x00") + ["-->", "<script>", "]]>", "{{", "{%"]),
    min_size=1, max_size=20,
).map("".join).filter(lambda s: bool(plain(s)))


def _without_insertions(new: str, edits: list[Edit]) -> str:
    """``new`` with every inserted text taken out again (the edits are insertions into ``old``)."""
    out, cursor, shift = [], 0, 0
    for e in sorted(edits, key=lambda e: e.start):
        assert e.start == e.end, "fix of a missing alt must only insert"
        at = e.start + shift
        out.append(new[cursor:at])
        cursor = at + len(e.text)
        shift += len(e.text)
    out.append(new[cursor:])
    return "".join(out)


def _check(path: str, doc: str, alt: str) -> None:
    new, edits = fix_text(path, doc, alt=alt)
    assert _without_insertions(new, edits) == doc
    assert fix_text(path, new, alt=alt) == (new, [])
    assert not [f for f in scan_text(path, new, Settings()) if f.rule in ("ALT001", "ALT003")]
    assert new.count("\n") == doc.count("\n") and new.count("\r") == doc.count("\r")


@given(st.lists(block(), min_size=1, max_size=6), st.sampled_from(["\n", "\r\n"]), alts)
@settings(max_examples=300, deadline=None)
def test_markdown(blocks: list[tuple[str, list[str]]], newline: str, alt: str) -> None:
    # Whitespace alt (' ') is replaced, not inserted: generated images here have empty alt.
    doc = (newline * 2).join(b.replace("\n", newline) for b, _ in blocks) + newline
    _check("doc.md", doc, alt)


@given(st.lists(st.tuples(words, html_image()), min_size=1, max_size=5), st.sampled_from(["\n", "\r\n"]), alts,
       st.sampled_from(["", "<!-- <img src=c.png> -->", '<a href="/">', "<pre>", "<script>'<img src=s.png>'</script>"]))
@settings(max_examples=300, deadline=None)
def test_html(parts: list[tuple[str, tuple[str, bool]]], newline: str, alt: str, around: str) -> None:
    # Kept out: whitespace alt (replaced, not inserted); in a link (ALT003), a bare alt (rewritten
    # whole) and role="none" (hidden: alt text alone cannot fix it, so fix leaves it).
    linked = around.startswith("<a ")
    parts = [(t, (img, m)) for t, (img, m) in parts if ' alt=" "' not in img and not (linked and (" alt/" in img or " alt>" in img or " alt " in img or "role" in img))]
    closing = {'<a href="/">': "</a>", "<pre>": "</pre>"}.get(around, "")
    doc = newline.join(f"<p>{text}{newline}{around}{img.replace(chr(10), newline)}{closing}</p>" for text, (img, _) in parts)
    _check("doc.html", doc, alt)
