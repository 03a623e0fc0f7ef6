from __future__ import annotations

import pytest

from alttext.model import Settings
from alttext.scan import scan_text
from tests.helpers import found

NO_FINDING = [
    pytest.param("![A red bicycle](a.png)", id="alt-present"),
    pytest.param("![A *red* bicycle](a.png 'Title')", id="alt-with-emphasis"),
    pytest.param("![A map][ref]\n\n[ref]: a.png", id="full-reference-with-alt"),
    pytest.param("![ref]\n\n[ref]: a.png", id="shortcut-reference"),
    pytest.param("![ref][]\n\n[ref]: a.png", id="collapsed-reference"),
    pytest.param("```\n![](a.png)\n```", id="fenced-code"),
    pytest.param("~~~md\n![](a.png)\n~~~", id="tilde-fence"),
    pytest.param("- item\n\n  ```\n  ![](a.png)\n  ```", id="fence-in-list"),
    pytest.param("Text\n\n    ![](a.png)", id="indented-code"),
    pytest.param("Use `![](a.png)` in Markdown", id="code-span"),
    pytest.param("Use ``![](a.png) ` x`` here", id="double-backtick-span"),
    pytest.param("<!-- ![](a.png) -->", id="html-comment"),
    pytest.param("<!--\n![](a.png)\n\n![](b.png)\n-->", id="multiline-html-comment"),
    pytest.param("Text <!-- ![](a.png) --> more", id="inline-html-comment"),
    pytest.param("\\![](a.png)", id="escaped-bang-is-a-link"),
    pytest.param("![](a.png", id="unclosed-is-text"),
    pytest.param("![][missing]", id="undefined-reference-is-text"),
    pytest.param("---\ntitle: x\nimage: ![](a.png)\n---\n\n# Post", id="yaml-front-matter"),
    pytest.param("+++\ntitle = '![](a.png)'\n+++\n", id="toml-front-matter"),
    pytest.param('Inline <img src="a.png" alt=""> decorative', id="raw-inline-html-decorative"),
    pytest.param('<img src="a.png" alt="Chart">', id="raw-html-block-with-alt"),
    pytest.param("<!-- alttext: decorative -->\n![](rule.png)", id="decorative-marker"),
    pytest.param("Text <!-- alttext: ignore --> ![](a.png)", id="ignore-marker-inline"),
    pytest.param("<div>\n![](a.png)\n</div>", id="html-block-content-is-raw-in-commonmark"),
    pytest.param("", id="empty-document"),
    pytest.param("# Just a heading\n\nAnd text.", id="no-images"),
]


@pytest.mark.parametrize("md", NO_FINDING)
def test_no_finding(md: str) -> None:
    assert found(md, "markdown") == []


FINDING = [
    pytest.param("![](a.png)", [(1, 1, "ALT001")], id="empty-alt"),
    pytest.param("![ ](a.png)", [(1, 1, "ALT001")], id="whitespace-alt"),
    pytest.param("![][ref]\n\n[ref]: a.png", [(1, 1, "ALT001")], id="empty-full-reference"),
    pytest.param("Text ![](a.png) more", [(1, 6, "ALT001")], id="in-paragraph"),
    pytest.param("[![](a.png)](https://example.com)", [(1, 2, "ALT003")], id="only-content-of-link"),
    pytest.param("[See ![](a.png)](https://example.com)", [(1, 6, "ALT001")], id="inside-link-with-text"),
    pytest.param("- one\n- two ![](a.png)", [(2, 7, "ALT001")], id="in-list"),
    pytest.param("1. one\n   - ![](a.png)", [(2, 6, "ALT001")], id="nested-list"),
    pytest.param("> quote\n> > ![](a.png)", [(2, 5, "ALT001")], id="nested-block-quote"),
    pytest.param("> - ![](a.png)", [(1, 5, "ALT001")], id="list-in-block-quote"),
    pytest.param("> para\nlazy ![](a.png)", [(2, 6, "ALT001")], id="lazy-continuation"),
    pytest.param("| a | b |\n|---|---|\n| x | ![](a.png) |", [(3, 7, "ALT001")], id="table-cell"),
    pytest.param(
        "| ![](a.png) | ![](a.png) |\n|---|---|", [(1, 3, "ALT001"), (1, 16, "ALT001")], id="same-image-twice-in-row"
    ),
    pytest.param("# Title ![](a.png)", [(1, 9, "ALT001")], id="atx-heading"),
    pytest.param("Title ![](a.png)\n===", [(1, 7, "ALT001")], id="setext-heading"),
    pytest.param("`code` ![](a.png)", [(1, 8, "ALT001")], id="after-code-span"),
    pytest.param("![](<a b.png> \"T\")", [(1, 1, "ALT001")], id="angle-destination-and-title"),
    pytest.param("Text ![](a.png\n'title')", [(1, 6, "ALT001")], id="image-across-lines"),
    pytest.param("> Text ![](a.png\n> 'title')", [(1, 8, "ALT001")], id="image-across-quoted-lines"),
    pytest.param("é 😀 ![](a.png)", [(1, 5, "ALT001")], id="columns-count-code-points"),
    pytest.param("one\r\n\r\ntwo ![](a.png)\r\n", [(3, 5, "ALT001")], id="crlf"),
    pytest.param("one\r\rtwo ![](a.png)\r", [(3, 5, "ALT001")], id="lone-cr"),
    pytest.param("> one\r\n> two ![](a.png)", [(2, 7, "ALT001")], id="crlf-block-quote"),
    pytest.param('Text <img src="a.png"> more', [(1, 6, "ALT001")], id="raw-inline-html"),
    pytest.param('> Text <img\n> src="a.png"> more', [(1, 8, "ALT001")], id="raw-inline-html-across-quoted-lines"),
    pytest.param('<div>\n  <img src="a.png">\n</div>', [(2, 3, "ALT001")], id="raw-html-block"),
    pytest.param('- item\n\n  <figure>\n    <img src="a.png">\n  </figure>', [(4, 5, "ALT001")], id="html-block-in-list"),
    pytest.param('> <p><img src="a.png"></p>', [(1, 6, "ALT001")], id="html-block-in-quote"),
    pytest.param("---\ntitle: x\n---\n![](a.png)", [(4, 1, "ALT001")], id="after-front-matter"),
    pytest.param("---\nnot closed\n\n![](a.png)", [(4, 1, "ALT001")], id="unclosed-front-matter-is-text"),
    pytest.param("<!-- alttext: decorative -->\n\n![](a.png)", [(3, 1, "ALT001")], id="marker-too-far"),
    pytest.param("![](a.png) ![](b.png)", [(1, 1, "ALT001"), (1, 12, "ALT001")], id="two-on-a-line"),
    pytest.param("![![](inner.png)](outer.png)", [(1, 1, "ALT001")], id="image-in-alt-counts-once"),
    # CommonMark renders every destination; markdown-it's validateLink (a renderer's safety net) must not hide any.
    pytest.param("![](data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=)", [(1, 1, "ALT001")], id="svg-data-uri"),
    pytest.param("![](file:///home/me/a.png)", [(1, 1, "ALT001")], id="file-url"),
    pytest.param("![](javascript:alert(1))", [(1, 1, "ALT001")], id="javascript-url"),
    pytest.param("![][r]\n\n[r]: file:///home/me/a.png", [(1, 1, "ALT001")], id="reference-to-file-url"),
    pytest.param("[![](a.png)](javascript:void(0))", [(1, 2, "ALT003")], id="javascript-link-is-a-link"),
    pytest.param(">" * 20 + " ![](a.png)", [(1, 22, "ALT001")], id="twenty-block-quotes-deep"),
    pytest.param("- a\n" + "".join("  " * i + "- a\n" for i in range(1, 12)) + "  " * 12 + "- ![](a.png)", [(13, 27, "ALT001")], id="thirteen-lists-deep"),
]


@pytest.mark.parametrize(("md", "expected"), FINDING)
def test_finding(md: str, expected: list[tuple[int, int, str]]) -> None:
    assert found(md, "markdown") == expected


SYNTAX = [
    pytest.param("![](a.png)", "md-inline", "a.png", id="inline"),
    pytest.param("![][r]\n\n[r]: b.png", "md-reference", "b.png", id="reference"),
    pytest.param("![](<a b.png>)", "md-inline", "a b.png", id="angle-brackets-decoded-for-display"),
    pytest.param("![](%7B%7B%20site.url%20%7D%7D/a.png)", "md-inline", "%7B%7B%20site.url%20%7D%7D/a.png", id="src-as-written"),
    pytest.param("![](a\\_b.png)", "md-inline", "a_b.png", id="backslash-escape-resolved"),
]


@pytest.mark.parametrize(("md", "syntax", "src"), SYNTAX)
def test_syntax_and_src(md: str, syntax: str, src: str) -> None:
    [f] = scan_text("doc.md", md, Settings(), kind="markdown")
    assert (f.syntax, f.src, f.element, f.exact) == (syntax, src, "markdown", True)


def test_end_position_is_exclusive() -> None:
    [f] = scan_text("doc.md", "> x ![](a.png)\n", Settings(), kind="markdown")
    assert (f.line, f.column, f.end_line, f.end_column) == (1, 5, 1, 15)
    assert (f.start, f.end) == (4, 14)


def test_tab_expanded_by_parser_still_located() -> None:
    text = "-\t![](a.png)"
    [f] = scan_text("doc.md", text, Settings(), kind="markdown")
    assert f.exact and text[f.start : f.end] == "![](a.png)"


def test_nesting_past_the_parser_limit_is_said_not_skipped() -> None:
    from alttext import messages

    warnings: list[str] = []
    text = "![](a.png)\n\n" + ">" * 150 + " ![](b.png)\n\n![](c.png)\n"
    findings = scan_text("doc.md", text, Settings(), kind="markdown", warnings=warnings)
    assert [(f.line, f.src) for f in findings] == [(1, "a.png"), (5, "c.png")]
    assert warnings == [messages.TOO_DEEP.format(path="doc.md", line=3, column=1, limit=100)]
    assert warnings[0] == "doc.md:3:1: blocks nested more than 100 deep; the images inside are not checked"


def test_nesting_past_the_limit_without_images_is_not_mentioned() -> None:
    warnings: list[str] = []
    assert scan_text("doc.md", ">" * 150 + " text\n\n![A](a.png)\n", Settings(), kind="markdown", warnings=warnings) == ()
    assert warnings == []
