from __future__ import annotations

import pytest

from alttext.scan import scan_text
from alttext.model import Settings
from tests.helpers import found

NO_FINDING = [
    pytest.param('<img src="a.png" alt="A red bicycle">', id="alt-present"),
    pytest.param('<img src="a.png" alt="">', id="empty-alt-decorative"),
    pytest.param('<img src="a.png" alt>', id="bare-alt-decorative"),
    pytest.param("<img src='a.png' alt=''/>", id="empty-alt-self-closing"),
    pytest.param('<img src="a.png" role="presentation">', id="role-presentation"),
    pytest.param('<img src="a.png" role="none">', id="role-none"),
    pytest.param('<img src="a.png" role="NONE presentation">', id="role-case-and-fallback-list"),
    pytest.param('<img src="a.png" aria-hidden="true">', id="aria-hidden"),
    pytest.param('<img src="a.png" aria-label="Logo of the project">', id="aria-label"),
    pytest.param('<img src="a.png" aria-labelledby="cap1">', id="aria-labelledby"),
    pytest.param('<img src="a.png" alt="{{ page.title }}">', id="liquid-alt"),
    pytest.param('<img src="a.png" alt="{% t hero %}">', id="liquid-tag-alt"),
    pytest.param('<img src="a.png" :alt="caption">', id="vue-shorthand"),
    pytest.param('<img src="a.png" v-bind:alt="caption">', id="vue-v-bind"),
    pytest.param('<img src="a.png" [alt]="caption">', id="angular-binding"),
    pytest.param('<IMG SRC="a.png" ALT="Upper case">', id="upper-case-tag"),
    pytest.param('<picture><source srcset="a.webp"><img src="a.png" alt="A map"></picture>', id="picture-source"),
    pytest.param('<script>var s = "<img src=a.png>";</script>', id="script"),
    pytest.param('<style>/* <img src=a.png> */</style>', id="style"),
    pytest.param("<template><img src=a.png></template>", id="template"),
    pytest.param("<textarea><img src=a.png></textarea>", id="textarea"),
    pytest.param("<!-- <img src=a.png> -->", id="comment"),
    pytest.param("<!--\n<img src=a.png>\n-->", id="multiline-comment"),
    pytest.param('<input type="image" src="go.png" alt="Search">', id="input-image-with-alt"),
    pytest.param('<input type="text" name="q">', id="input-text"),
    pytest.param('<input type="image" src="go.png" aria-label="Search">', id="input-image-aria-label"),
    pytest.param('<area shape="rect" coords="0,0,1,1">', id="area-without-href"),
    pytest.param('<area href="/a" alt="Africa">', id="area-with-alt"),
    pytest.param("<!-- alttext: decorative -->\n<img src=a.png>", id="decorative-marker-line-before"),
    pytest.param("<!-- alttext: ignore --><img src=a.png>", id="ignore-marker-same-line"),
    pytest.param("<!--alttext:DECORATIVE--> <img src=a.png>", id="marker-spacing-and-case"),
    pytest.param("", id="empty-document"),
    pytest.param("<p>No images here</p>", id="no-images"),
]


@pytest.mark.parametrize("html", NO_FINDING)
def test_no_finding(html: str) -> None:
    assert found(html, "html") == []


FINDING = [
    pytest.param('<img src="a.png">', [(1, 1, "ALT001")], id="missing"),
    pytest.param('<img src="a.png"/>', [(1, 1, "ALT001")], id="missing-self-closing"),
    pytest.param('<p>Text <IMG SRC="a.png"></p>', [(1, 9, "ALT001")], id="upper-case"),
    pytest.param('<img src="a.png" alt=" ">', [(1, 1, "ALT001")], id="whitespace-alt"),
    pytest.param('<img src="a.png" alt="&#32;&#10;">', [(1, 1, "ALT001")], id="whitespace-alt-entities"),
    pytest.param('<img src="a.png" role="img">', [(1, 1, "ALT001")], id="role-img-not-decorative"),
    pytest.param('<img src="a.png" aria-hidden="false">', [(1, 1, "ALT001")], id="aria-hidden-false"),
    pytest.param('<img src="a.png" aria-label="  ">', [(1, 1, "ALT001")], id="blank-aria-label"),
    pytest.param('<input type="image" src="go.png">', [(1, 1, "ALT001")], id="input-image"),
    pytest.param('<input TYPE="IMAGE" src="go.png" alt="">', [(1, 1, "ALT001")], id="input-image-empty-alt"),
    pytest.param('<map><area href="/a"></map>', [(1, 6, "ALT001")], id="area-href"),
    pytest.param('<area href="/a" alt="">', [(1, 1, "ALT001")], id="area-href-empty-alt"),
    pytest.param('<picture>\n  <source srcset="a.webp">\n  <img src="a.png">\n</picture>', [(3, 3, "ALT001")], id="picture-img"),
    pytest.param('<img src="{{ site.baseurl }}/a.png">', [(1, 1, "ALT001")], id="template-src"),
    pytest.param('<noscript><img src="a.png"></noscript>', [(1, 11, "ALT001")], id="noscript"),
    pytest.param('<div>\r\n  <img\r\n    src="a.png">\r\n</div>', [(2, 3, "ALT001")], id="crlf-multiline-tag"),
    pytest.param('<div>\r  <img src="a.png">\r</div>', [(2, 3, "ALT001")], id="lone-cr"),
    pytest.param("<p>é 😀 <img src=a.png></p>", [(1, 8, "ALT001")], id="columns-count-code-points"),
    pytest.param("<!-- alttext: decorative -->\n\n<img src=a.png>", [(3, 1, "ALT001")], id="marker-too-far"),
    pytest.param(
        "<!-- alttext: ignore -->\n<img src=a.png><img src=b.png>", [(2, 16, "ALT001")], id="marker-covers-one-image"
    ),
    pytest.param("<template></template><img src=a.png>", [(1, 22, "ALT001")], id="after-template"),
    pytest.param('<svg><title>t</title></svg><img src="a.png">', [(1, 28, "ALT001")], id="after-svg-title"),
]


@pytest.mark.parametrize(("html", "expected"), FINDING)
def test_finding(html: str, expected: list[tuple[int, int, str]]) -> None:
    assert found(html, "html") == expected


def test_finding_records_src_alt_and_end() -> None:
    [f] = scan_text("p.html", '<p><img src="a%20b.png?x=1" alt=" "></p>', Settings(), kind="html")
    assert (f.src, f.alt, f.element, f.syntax) == ("a%20b.png?x=1", " ", "img", "html")
    assert (f.line, f.column, f.end_line, f.end_column) == (1, 4, 1, 37)
    assert f.message == 'image "a%20b.png?x=1" has only whitespace as alt text'


def test_messages_per_element() -> None:
    text = '<img src=a.png><input type=image src=b.png><area href="/c">'
    assert [f.message for f in scan_text("p.html", text, Settings(), kind="html")] == [
        'image "a.png" has no alt text',
        'image button "b.png" has no alt text',
        'image map area "/c" has no alt text',
    ]
