from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alttext.fixing.edit import Edit, EditError, apply_edits, edit_for
from alttext.fixing.markup import attributes
from alttext.escape import html_attribute, markdown_label, plain, shortcode_value
from alttext.model import Settings
from alttext.scan import scan_text
from tests.fixing import fix_text

REF = "\n\n[ref]: a.png\n"
IMAGE = "\n\n[image]: a.png\n"


@pytest.mark.parametrize(
    ("path", "text", "engine"),
    [
        pytest.param("a.html", '<img src="a.png" alt="A dog.">', None, id="html-has-alt"),
        pytest.param("a.html", '<img src="a.png" alt="">', None, id="html-decorative"),
        pytest.param("a.html", '<img src="a.png" role="presentation">', None, id="html-presentation"),
        pytest.param("a.html", '<img src="a.png" aria-hidden="true">', None, id="html-aria-hidden"),
        pytest.param("a.html", '<!-- <img src="a.png"> --><script>"<img src=b.png>"</script>', None, id="html-comment-script"),
        pytest.param("a.html", '<template><img src="a.png"></template><textarea><img src="b.png"></textarea>', None, id="html-template-textarea"),
        pytest.param("a.html", '<input type="text" src="a.png"><area href="/x" alt="North">', None, id="html-not-images"),
        pytest.param("a.html", '<!-- alttext: ignore -->\n<img src="a.png">', None, id="html-marker-ignore"),
        pytest.param("a.md", "![A dog.](a.png)", None, id="md-has-alt"),
        pytest.param("a.md", "`![](a.png)` and\n\n```\n![](b.png)\n```\n\n    ![](c.png)\n", None, id="md-code"),
        pytest.param("a.md", "<!-- ![](a.png) -->\n", None, id="md-comment"),
        pytest.param("a.md", "<!-- alttext: decorative -->\n![](a.png)\n", None, id="md-marker-decorative"),
        pytest.param("a.md", "![image](a.png)", None, id="md-weak-without-strict"),
        pytest.param("a.mdx", "<img src={pic} alt={caption} />", "mdx", id="mdx-dynamic-alt"),
        pytest.param("a.md", '{{< figure src="a.png" caption="A dog." >}}', "hugo", id="hugo-figure-caption"),
        pytest.param("a.html", '{% if x %}<img src="a.png" alt="{{ page.alt }}">{% endif %}', "jekyll", id="jekyll-liquid-alt"),
    ],
)
def test_no_op(path: str, text: str, engine: str | None) -> None:
    assert fix_text(path, text, engine=engine) == (text, [])


@pytest.mark.parametrize(
    ("path", "text", "expected", "engine", "strict"),
    [
        pytest.param("a.html", '<img src="a.png">', '<img src="a.png" alt="Dog">', None, False, id="html"),
        pytest.param("a.html", '<img src="a.png"/>', '<img src="a.png" alt="Dog"/>', None, False, id="html-self-closing"),
        pytest.param("a.html", '<img src="a.png"  />', '<img src="a.png" alt="Dog"  />', None, False, id="html-space-slash"),
        pytest.param("a.html", "<img src=a.png/>", '<img src=a.png/ alt="Dog">', None, False, id="html-unquoted-slash-belongs-to-value"),
        pytest.param("a.html", "<IMG SRC='a.png' CLASS='x'>", "<IMG SRC='a.png' CLASS='x' ALT='Dog'>", None, False, id="html-upper-single-quotes"),
        pytest.param("a.html", '<img\r\n  src="a.png"\r\n  width="3"\r\n>', '<img\r\n  src="a.png"\r\n  width="3" alt="Dog"\r\n>', None, False, id="html-crlf-multiline"),
        pytest.param("a.html", '<img src="a.png" alt="  ">', '<img src="a.png" alt="Dog">', None, False, id="html-whitespace-alt"),
        pytest.param("a.html", '<img src="a&amp;b.png" data-x=\'"\'>', '<img src="a&amp;b.png" data-x=\'"\' alt="Dog">', None, False, id="html-entities-kept"),
        pytest.param("a.html", '<input type="image" src="go.png">', '<input type="image" src="go.png" alt="Dog">', None, False, id="html-input-image"),
        pytest.param("a.html", '<map name="m"><area href="/n" coords="0,0,9,9"></map>', '<map name="m"><area href="/n" coords="0,0,9,9" alt="Dog"></map>', None, False, id="html-area"),
        pytest.param("a.html", '<a href="/"><img src="a.png"></a>', '<a href="/"><img src="a.png" alt="Dog"></a>', None, False, id="html-linked"),
        pytest.param("a.html", '<img src="a.png" alt="image">', '<img src="a.png" alt="Dog">', None, True, id="html-weak-strict"),
        pytest.param("a.html", "<img src=a.png alt=photo>", '<img src=a.png alt="Dog">', None, True, id="html-weak-unquoted"),
        pytest.param("a.html", '<img src="{{ site.url }}/a.png">', '<img src="{{ site.url }}/a.png" alt="Dog">', "jekyll", False, id="jekyll-html"),
        pytest.param("a.md", "![](a.png)", "![Dog](a.png)", None, False, id="md-inline"),
        pytest.param("a.md", '![](<a b.png> "Title")', '![Dog](<a b.png> "Title")', None, False, id="md-angle-title"),
        pytest.param("a.md", "![ ](a.png)", "![Dog](a.png)", None, False, id="md-whitespace-alt"),
        pytest.param("a.md", "![][ref]" + REF, "![Dog][ref]" + REF, None, False, id="md-reference"),
        pytest.param("a.md", "![image][]" + IMAGE, "![Dog][image]" + IMAGE, None, True, id="md-collapsed-strict"),
        pytest.param("a.md", "![image]" + IMAGE, "![Dog][image]" + IMAGE, None, True, id="md-shortcut-strict"),
        pytest.param("a.md", "![photo](a.png)", "![Dog](a.png)", None, True, id="md-weak-strict"),
        pytest.param("a.md", "[![](a.png)](https://e.com)", "[![Dog](a.png)](https://e.com)", None, False, id="md-linked"),
        pytest.param("a.md", "> - item ![](a.png)\r\n>   more\r\n", "> - item ![Dog](a.png)\r\n>   more\r\n", None, False, id="md-quote-list-crlf"),
        pytest.param("a.md", "| a | ![](a.png) |\n|---|---|\n", "| a | ![Dog](a.png) |\n|---|---|\n", None, False, id="md-table"),
        pytest.param("a.md", 'Text <img src="a.png"> text', 'Text <img src="a.png" alt="Dog"> text', None, False, id="md-raw-html"),
        pytest.param("a.md", "> <img src='a.png'>\n", "> <img src='a.png' alt='Dog'>\n", None, False, id="md-raw-html-in-quote"),
        pytest.param("a.md", '{{< figure src="a.png" >}}', '{{< figure src="a.png" alt="Dog" >}}', "hugo", False, id="hugo-figure"),
        pytest.param("a.md", '{{% figure src="a.png" alt="" %}}', '{{% figure src="a.png" alt="Dog" %}}', "hugo", False, id="hugo-figure-empty-alt"),
        pytest.param("a.mdx", "<img src={pic} />", '<img src={pic} alt="Dog" />', "mdx", False, id="mdx-jsx"),
        pytest.param("a.mdx", "<img src={a > b ? x : y} />", '<img src={a > b ? x : y} alt="Dog" />', "mdx", False, id="mdx-expression-with-gt"),
        pytest.param("a.md", "---\ntitle: x\n---\n![](a.png)\n", "---\ntitle: x\n---\n![Dog](a.png)\n", None, False, id="md-front-matter"),
    ],
)
def test_fix(path: str, text: str, expected: str, engine: str | None, strict: bool) -> None:
    assert fix_text(path, text, engine=engine, strict=strict)[0] == expected


def test_hidden_linked_image_is_not_fixed() -> None:
    text = '<a href="/"><img src="a.png" role="presentation"></a>'
    [finding] = scan_text("a.html", text, Settings())
    assert finding.rule == "ALT003"
    assert edit_for(text, finding, "Dog") == "the image is hidden from assistive technology (role or aria-hidden); alt text alone cannot fix it"


@pytest.mark.parametrize(
    ("path", "alt", "readback"),
    [
        pytest.param("a.html", '"><script>alert(1)</script>', '"＞ alert(1)', id="html-script"),
        pytest.param("a.md", '"><script>alert(1)</script>', '"＞ alert(1)', id="md-script"),
        pytest.param("a.md", "a ] [b](javascript:x) `c` \\ *d* | {{e}}", "a ) (b)(javascript:x) 'c' / d / e", id="md-label-breakers"),
        pytest.param("a.html", "line one\nline two\r\n\x00\x1b[31m\u202eevil", "line one line two evil", id="controls-and-newlines"),
        pytest.param("a.md", "{% include footer.html %} and {{ site.title }}", "include footer.html and site.title", id="liquid"),
        pytest.param("a.md", '{{< figure src="x" >}} a {{% b %}}', 'figure src="x" a b', id="hugo-shortcodes"),
        pytest.param("a.mdx", "{alert(1)} <Comp /> x", "(alert(1)) ＜Comp /＞ x", id="mdx-expression-and-jsx"),
        pytest.param("a.md", "zero\u200bwidth\u200d join\u061c\ufeff mark", "zerowidth join mark", id="invisible"),
        pytest.param("a.md", "Tom & Jerry, x < 5, AT&T", "Tom & Jerry, x ＜ 5, AT&T", id="ampersand-and-comparison"),
    ],
)
def test_untrusted_text_is_inert(path: str, alt: str, readback: str) -> None:
    text = '<img src="a.png">' if path.endswith(".html") else "![](a.png)"
    new, _ = fix_text(path, text, alt=alt)
    assert "\n" not in new and "\x00" not in new
    if path.endswith(".md"):
        from markdown_it import MarkdownIt

        assert "<script" not in MarkdownIt("commonmark").render(new)
        assert "\\" not in new  # nothing escaped: kramdown and older Hugo would show the backslash
    else:
        assert "<script" not in new
    [event_alt] = [f.alt for f in scan_text(path, new, Settings(strict=True))] or [None]
    assert event_alt is None  # no finding left: the alt text is there
    from alttext.scan import events_of, kind_of

    [image] = events_of(new, kind_of(path), "gfm" if path.endswith(".md") else "html")
    assert image.verdict.alt == readback  # type: ignore[union-attr]


def test_escaping() -> None:
    assert html_attribute('a "b" <c> & {d}') == "a &quot;b&quot; ＜c＞ &amp; (d)"
    assert html_attribute("it's", "'") == "it&#39;s"
    # Reworded, never escaped: a backslash would reach the reader in kramdown and older Hugo.
    assert markdown_label("a [b] `c` \\ *d* _e_ snake_case <f> | {g}") == "a (b) 'c' / d e snake_case ＜f＞ / (g)"
    assert shortcode_value('a "b" {{< c >}}') == 'a \\"b\\" c'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("{% include x %}", "include x", id="liquid-tag"),
        pytest.param("{%- if a -%}b{{- c -}}", "if a b c", id="liquid-whitespace-control"),
        pytest.param("{{{% a %}}}", "a )", id="nested-delimiters"),
        pytest.param("{{< figure >}}", "figure", id="hugo-shortcode"),
        pytest.param("a\x1b]8;;http://e\x07link\x1b]8;;\x07 b", "alink b", id="osc8"),
        pytest.param("\x1b[31mred\x1b[0m", "red", id="ansi-colour"),
        pytest.param("a\u202eb\u2066c\u061cd\u200be\u00adf", "abcdef", id="bidi-and-zero-width"),
        pytest.param("&lt;b&gt;bold&lt;/b&gt; &amp;amp;", "bold & amp;", id="entities"),
        pytest.param("cats&region=us&times=3", "cats&region=us&times=3", id="legacy-reference-is-text"),
        pytest.param("score >= 90, a -> b, x<5", "score ≥ 90, a → b, x＜5", id="comparisons-keep-their-meaning"),
        pytest.param("气温 < 5 度", "气温 ＜ 5 度", id="comparison-in-chinese"),
        pytest.param("Press <Ctrl>+<C>", "Press ＜Ctrl＞+＜C＞", id="keys-are-not-tags"),
        pytest.param("5*3=15 and ~/.bashrc and _config.yml", "5*3=15 and ~/.bashrc and _config.yml", id="one-mark-is-text"),
        pytest.param("*a* ~~b~~", "a b", id="paired-marks-go"),
        pytest.param("C:\\Users\\bob \\& \\*", "C:/Users/bob & *", id="backslashes"),
        pytest.param("^2 squared", "2 squared", id="kramdown-footnote"),
        pytest.param("$$x$$", "$x$", id="kramdown-math"),
    ],
)
def test_plain(text: str, expected: str) -> None:
    assert plain(text) == expected
    assert plain(expected) == expected


def test_apply_edits_rejects_overlaps() -> None:
    assert apply_edits("abcdef", [Edit(4, 4, "X"), Edit(1, 2, "Y")]) == "aYcdXef"
    with pytest.raises(EditError, match="edits overlap at offsets 1-3 and 2-4"):
        apply_edits("abcdef", [Edit(1, 3, "X"), Edit(2, 4, "Y")])
    with pytest.raises(EditError):
        apply_edits("abcdef", [Edit(2, 2, "X"), Edit(2, 2, "Y")])


def test_attributes() -> None:
    attrs = attributes("<img src=\"a b\" alt='x' hidden data-x=y>")
    assert [(a.name, a.value, a.quote) for a in attrs] == [("src", "a b", '"'), ("alt", "x", "'"), ("hidden", None, ""), ("data-x", "y", "")]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60)
       | st.lists(st.sampled_from(["{", "}", "%", "<", ">", "[", "]", "\\", "&", "amp;", "#1;", "_", "*", "`", "|", "a", " ", "\x1b", "\u202e", "-",
                                 "$", "~", "lt", "copy", "#0", ";", "^", "=", "#x1b", "!", "(", ")"]), max_size=20).map("".join))
def test_plain_is_one_inert_line(text: str) -> None:
    import unicodedata

    once = plain(text)
    assert plain(once) == once
    assert not any(seq in once for seq in ("{%", "%}", "{{", "}}", "\\", "<", ">", "[", "]", "`", "$$"))
    assert not once.startswith("^") and once.count("*") < 2 and once.count("~") < 2
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in once)
    if once:  # a Markdown label reads back as exactly the text written
        new, _ = fix_text("a.md", "![](a.png)", alt=once)
        from alttext.scan import events_of

        [image] = events_of(new, "markdown", "gfm")
        assert image.verdict.alt == once  # type: ignore[union-attr]


def test_a_hugo_figure_value_cannot_close_the_shortcode() -> None:
    new, _ = fix_text("a.md", '{{< figure src="a.png" >}}\n', alt='A sign: {{< x >}} and "quotes" >}}', engine="hugo")
    assert new == '{{< figure src="a.png" alt="A sign: x and \\"quotes\\"" >}}\n'
