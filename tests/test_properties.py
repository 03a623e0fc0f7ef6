"""Properties of the scanner on generated documents: every image placed outside code is found,
at a span that reads back exactly the syntax that was placed, and nothing else is found."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from alttext.model import Settings
from alttext.scan import scan_text

names = st.from_regex(r"[a-z][a-z0-9_-]{0,8}\.(png|jpg|svg)", fullmatch=True)
words = st.lists(st.from_regex(r"[A-Za-zé0-9]{1,6}", fullmatch=True), min_size=1, max_size=4).map(" ".join)


@st.composite
def image(draw: st.DrawFn) -> str:
    name = draw(names)
    form = draw(st.sampled_from(["inline", "title", "angle", "html", "html-self", "linked"]))
    return {
        "inline": f"![]({name})",
        "title": f'![]({name} "t")',
        "angle": f"![](<{name}>)",
        "html": f'<img src="{name}">',
        "html-self": f"<img src='{name}' />",
        "linked": f"[![]({name})](https://example.com)",
    }[form]


def _core(img: str) -> str:
    # The span a finding should cover: the link around a linked image is not part of it.
    return img[1 : img.index(")") + 1] if img.startswith("[!") else img


@st.composite
def block(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A block of Markdown and the image syntaxes in it that must be found."""
    img = draw(image())
    text = draw(words)
    kind = draw(st.sampled_from(["para", "list", "quote", "quote2", "table", "heading", "fence", "indented", "span", "comment", "alt"]))
    if kind == "para":
        return f"{text} {img} {text}", [_core(img)]
    if kind == "list":
        return f"- {text}\n- {img}", [_core(img)]
    if kind == "quote":
        return f"> {text}\n> {img}", [_core(img)]
    if kind == "quote2":
        return f"> > {img} {text}", [_core(img)]
    if kind == "table":
        return f"| a | b |\n|---|---|\n| {text} | {img} |", [_core(img)] if "|" not in img else []
    if kind == "heading":
        return f"## {text} {img}", [_core(img)]
    if kind == "fence":
        return f"```\n{img}\n```", []
    if kind == "indented":
        return f"{text}\n\n    {img}", []  # a paragraph first, or a list before would own it
    if kind == "span":
        return f"{text} `{img}` {text}", []
    if kind == "comment":
        return f"<!-- {img} -->", []
    return f"{text} ![{text}](x.png)", []


@given(st.lists(block(), min_size=1, max_size=6), st.sampled_from(["\n", "\r\n", "\r"]))
@settings(max_examples=300, deadline=None)
def test_markdown_images_found_exactly(blocks: list[tuple[str, list[str]]], newline: str) -> None:
    doc = (newline * 2).join(b.replace("\n", newline) for b, _ in blocks) + newline
    expected = [img for _, imgs in blocks for img in imgs]
    findings = scan_text("doc.md", doc, Settings(), kind="markdown")
    assert [doc[f.start : f.end] for f in findings] == expected
    assert all(f.exact for f in findings)
    lines = doc.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for f in findings:
        assert lines[f.line - 1][f.column - 1 :].startswith(doc[f.start : f.end].split("\n")[0].split("\r")[0])


@st.composite
def html_image(draw: st.DrawFn) -> tuple[str, bool]:
    """An image-like tag and whether it is a finding."""
    name = draw(names)
    quote = draw(st.sampled_from(['"', "'"]))
    space = draw(st.sampled_from([" ", "\n  ", "\t"]))
    alt = draw(st.sampled_from(["", ' alt=""', " alt", ' alt="A cat"', ' role="none"', ' alt=" "']))
    tag = draw(st.sampled_from(["img", "IMG"]))
    end = draw(st.sampled_from([">", "/>", " />"]))
    return f"<{tag}{space}src={quote}{name}{quote}{alt}{end}", alt in ("", ' alt=" "')


@given(st.lists(st.tuples(words, html_image()), min_size=1, max_size=5), st.sampled_from(["\n", "\r\n", "\r"]))
@settings(max_examples=200, deadline=None)
def test_html_images_found_exactly(parts: list[tuple[str, tuple[str, bool]]], newline: str) -> None:
    doc = newline.join(f"<p>{text}{newline}{img.replace(chr(10), newline)}</p>" for text, (img, _) in parts)
    findings = scan_text("doc.html", doc, Settings(), kind="html")
    expected = [img.replace("\n", newline) for _, (img, missing) in parts if missing]
    assert [doc[f.start : f.end] for f in findings] == expected


LINES = [
    "", "", "", "text", "more text ![](p.png)", "![][r]", "![r]", "[r]: ref.png", "[r]:", "  ref.png",
    "```", "````", "~~~", "``` x`y", "  ```", "    ```", "- item", "- ![](l.png)", "  continued ![](c.png)",
    "    indented ![](i.png)", "> quote", "> ![](q.png)", "lazy ![](z.png)", "<pre>", "</pre>", "<!--", "-->",
    "<!-- alttext: decorative -->", "<div>", "</div>", "<img src=h.png>", "<script>", "</script>", "<?php", "?>",
    "| a | b |", "|---|---|", "| ![](t.png) | x |", "===", "---", "1. one", "   ![](o.png)", "\t![](tab.png)",
    "<![CDATA[", "]]>", "<!DOCTYPE html>", "* [![](k.png)](u)", "`code ![](s.png)`", "``",
    "  <!--", " ```", "   ~~~", "<span>", "text <b>", "a *b ![](e.png) c*", "x `y` ![](z.png)", "p \\![](n.png)",
    "[link ![](in.png)](u)", "w <b>![](h.png)</b>", "![a](b.png) ![](c.png)", "*![](em.png)*",
]


@given(st.lists(st.sampled_from(LINES), min_size=1, max_size=40))
@settings(max_examples=1500, deadline=None)
def test_chunked_parse_equals_full_parse(lines: list[str]) -> None:
    from alttext.scan.markdown import scan_markdown

    text = "\n".join(lines) + "\n"
    assert scan_markdown(text) == scan_markdown(text, everything=True)
