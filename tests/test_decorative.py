"""Marking an image decorative (``alttext review``'s Decorative, ``"review": "decorative"`` in a
report): ``alt=""`` in HTML, alttext's marker in Markdown, placed so the page renders as before."""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from alttext.fixing.edit import Edit, apply_edits, decorative_edit
from alttext.model import Settings
from alttext.scan import scan_text

COMMENT = "<!-- alttext: decorative -->"


def _render(text: str) -> str:
    """The page as CommonMark renders it after its front matter (which the site engine reads), the
    marker comment taken out, and white space (which HTML collapses) in one form."""
    text = re.sub(r"\A(\+\+\+|---)\n.*?\n(\+\+\+|---|\.\.\.)\n", "", text, flags=re.S)
    html = re.sub(r"\s+", " ", MarkdownIt("commonmark").render(text).replace(COMMENT, " "))
    return re.sub(r"\s*(<[^>]+>)\s*", r"\1", html).strip()


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("![](a.png)\n", id="first-line"),
        pytest.param("# Title\n\n![](a.png)\n", id="paragraph-start"),
        pytest.param("# Title\n![](a.png)\n", id="after-heading"),
        pytest.param("Some text ![](a.png) more.\n", id="inside-a-line"),
        pytest.param("Text before\n![](a.png) after\n", id="line-start-inside-a-paragraph"),
        pytest.param("- one\n- ![](a.png)\n", id="list-item"),
        pytest.param("> quoted\n>\n> ![](a.png)\n", id="blockquote"),
        pytest.param("```\ncode\n```\n![](a.png)\n", id="after-a-fence"),
        pytest.param("Text\r\n![](a.png)\r\n", id="crlf"),
        pytest.param("Intro\n\n![][logo]\n\n[logo]: a.png\n", id="reference"),
        pytest.param("Title\n==\n![](a.png)\n", id="after-a-setext-heading"),
        pytest.param("Title\n-\n![](a.png)\n", id="after-a-setext-dash"),
        pytest.param("* * *\n![](a.png)\n", id="after-a-rule"),
        pytest.param("[a]: http://x.test\n![](a.png)\n\n[a]\n", id="after-a-link-definition"),
        pytest.param("Some text:\n2. ![](a.png)\n", id="a-number-that-starts-no-list"),
        pytest.param("Intro text\n**![](a.png)** bold\n", id="inside-emphasis-at-line-start"),
        pytest.param("+++\ntitle = 'x'\n+++\n![](a.png)\n", id="after-hugo-front-matter"),
        pytest.param("---\ntitle: x\n...\n![](a.png)\n", id="after-yaml-front-matter"),
        pytest.param("# T\r\n![](a.png)\r\n", id="crlf-own-line"),
        pytest.param("# T\r![](a.png)\r", id="cr-own-line"),
    ],
)
def test_markdown_gets_the_marker_and_renders_as_before(text: str) -> None:
    [finding] = scan_text("page.md", text, Settings())
    edit = decorative_edit(text, finding)
    assert isinstance(edit, Edit), edit
    new = apply_edits(text, [edit])
    assert scan_text("page.md", new, Settings()) == ()  # ALT001 is gone, and nothing new came
    assert "<!-- alttext: decorative -->" in new
    assert _render(new) == _render(text)
    # The file's own line endings only.
    assert ("\n" in new) == ("\n" in text) and new.count("\r\n") >= text.count("\r\n") and ("\r" in new) == ("\r" in text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Line one  \n![](a.png)\n", id="after-a-hard-break"),
        pytest.param("Line one\\\n![](a.png)\n", id="after-a-backslash-break"),
    ],
)
def test_where_no_marker_keeps_the_page_as_it_renders_nothing_is_changed(text: str) -> None:
    [finding] = scan_text("page.md", text, Settings())
    assert decorative_edit(text, finding) == ("a marker here would change how the page renders; "
                                              "put <!-- alttext: decorative --> before the image by hand")


def test_html_gets_an_empty_alt() -> None:
    text = '<p><IMG SRC="a.png"/></p>\n'
    [finding] = scan_text("page.html", text, Settings())
    assert apply_edits(text, [decorative_edit(text, finding)]) == '<p><IMG SRC="a.png" ALT=""/></p>\n'


def test_mdx_gets_its_own_comment() -> None:
    text = "# Title\n\n![](a.png)\n"
    [finding] = scan_text("page.mdx", text, Settings(), engine="mdx")
    new = apply_edits(text, [decorative_edit(text, finding, engine="mdx")])
    assert new == "# Title\n\n{/* alttext: decorative */}\n![](a.png)\n"
    assert scan_text("page.mdx", new, Settings(), engine="mdx") == ()


@pytest.mark.parametrize(
    ("path", "text"),
    [
        pytest.param("page.md", "[![](a.png)](/)\n", id="linked-image"),
        pytest.param("page.html", '<input type="image" src="a.png">\n', id="image-button"),
        pytest.param("page.html", '<a href="/"><img src="a.png"></a>\n', id="linked-html-image"),
    ],
)
def test_what_needs_a_name_is_never_decorative(path: str, text: str) -> None:
    [finding] = scan_text(path, text, Settings())
    assert decorative_edit(text, finding) == ("only an image without alt text can be decorative "
                                              "(a linked image, an image button or a map area needs a name)")
