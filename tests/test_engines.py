from __future__ import annotations

import dataclasses
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alttext.cli import main
from alttext.model import Settings
from alttext.scan.engines import detect, site_for
from alttext.scan.markdown import scan_markdown
from tests.conftest import FIXTURES, REPO
from tests.helpers import found

SITES = ["docusaurus", "mkdocs", "jekyll", "hugo"]


def _expected(site: str, name: str) -> str:
    with open(os.path.join(FIXTURES, "engines", site, name), encoding="utf-8") as f:
        return f.read()


@pytest.mark.parametrize("site", SITES)
def test_fixture_site_findings(site: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(REPO)
    main(["check", "-q", f"fixtures/engines/{site}"])
    assert capsys.readouterr().out == _expected(site, "expected.txt")


@pytest.mark.parametrize("site", SITES)
def test_same_files_under_commonmark(site: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # The difference from expected.txt is each engine's deliberate, visible effect.
    monkeypatch.chdir(REPO)
    main(["check", "-q", "--engine", "commonmark", f"fixtures/engines/{site}"])
    out = capsys.readouterr().out
    assert out == _expected(site, "expected-commonmark.txt")
    assert out != _expected(site, "expected.txt")


def test_json_names_the_engine_per_finding(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(REPO)
    main(["check", "--format", "json", "fixtures/engines/docusaurus"])
    engines = {(os.path.basename(f["path"]), f["engine"]) for f in json.loads(capsys.readouterr().out)["findings"]}
    assert engines == {("README.md", "gfm"), ("2026-01-05-hello.md", "mdx"), ("intro.mdx", "mdx")}


DETECT = [
    pytest.param("docusaurus/docs/intro.mdx", "mdx", id="docusaurus-docs"),
    pytest.param("docusaurus/blog/2026-01-05-hello.md", "mdx", id="docusaurus-blog-md-is-mdx"),
    pytest.param("docusaurus/README.md", "gfm", id="docusaurus-readme-is-git-host"),
    pytest.param("mkdocs/docs/index.md", "mkdocs", id="mkdocs-docs-dir"),
    pytest.param("jekyll/_posts/2026-01-01-welcome.md", "jekyll", id="jekyll-post"),
    pytest.param("jekyll/index.html", "jekyll", id="jekyll-html-has-liquid"),
    pytest.param("hugo/content/posts/first.md", "hugo", id="hugo-content"),
    pytest.param("hugo/layouts/partials/header.html", "hugo", id="hugo-layout-has-go-templates"),
]


@pytest.mark.parametrize(("rel", "engine"), DETECT)
def test_detect(rel: str, engine: str) -> None:
    assert detect(os.path.join(FIXTURES, "engines", rel), Settings(root=REPO)) == engine


def _touch(path: str, text: str = "") -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def test_detect_configured_folders_and_fallbacks(tmp_path: os.PathLike[str]) -> None:
    root = str(tmp_path)
    site_for.cache_clear()
    _touch(os.path.join(root, "mk", "mkdocs.yml"), "site_name: x\ndocs_dir: 'pages'  # custom\n")
    _touch(os.path.join(root, "hg", "config.toml"), 'contentDir = "posts"\n')
    os.makedirs(os.path.join(root, "hg", "layouts"))
    s = Settings(root=root)
    assert detect(_touch(os.path.join(root, "mk", "pages", "a.md")), s) == "mkdocs"
    assert detect(_touch(os.path.join(root, "mk", "docs", "a.md")), s) == "gfm"  # outside docs_dir
    assert detect(_touch(os.path.join(root, "hg", "posts", "a.md")), s) == "hugo"
    assert detect(_touch(os.path.join(root, "plain", "a.md")), s) == "gfm"
    assert detect(_touch(os.path.join(root, "plain", "a.mdx")), s) == "mdx"
    assert detect(_touch(os.path.join(root, "plain", "a.html")), s) == "html"
    assert detect(os.path.join(root, "mk", "pages", "a.md"), dataclasses.replace(s, engine="commonmark")) == "commonmark"
    per_glob = dataclasses.replace(s, engines=(("mk/pages/legacy/**", "commonmark"),))
    assert detect(_touch(os.path.join(root, "mk", "pages", "legacy", "b.md")), per_glob) == "commonmark"
    assert detect(os.path.join(root, "mk", "pages", "a.md"), per_glob) == "mkdocs"


def test_jekyll_source_setting_moves_the_content(tmp_path: os.PathLike[str]) -> None:
    root = str(tmp_path)
    site_for.cache_clear()
    # A plugin's own source: setting, indented under its name, says nothing about the site's.
    _touch(os.path.join(root, "jk", "_config.yml"), "title: x\nsource: site  # the pages\npicture:\n  source: img/full\n")
    _touch(os.path.join(root, "plug", "_config.yml"), "picture:\n  source: img/full\n")
    s = Settings(root=root)
    assert site_for(os.path.join(root, "jk")).content == (os.path.join(root, "jk", "site"),)  # type: ignore[union-attr]
    assert detect(_touch(os.path.join(root, "jk", "site", "_posts", "a.md")), s) == "jekyll"
    assert detect(_touch(os.path.join(root, "jk", "notes", "a.md")), s) == "gfm"  # not in the source folder
    assert detect(_touch(os.path.join(root, "plug", "a.md")), s) == "jekyll"


CASES = [
    # MDX
    pytest.param("mdx", "import X from './x';\n\n![](a.png)", [(3, 1, "ALT001")], id="mdx-import-line-is-not-text"),
    pytest.param("mdx", "export const m = {\n  a: '![](x.png)',\n};", [], id="mdx-export-block-is-not-text"),
    pytest.param("mdx", "{/* ![](a.png) */}", [], id="mdx-jsx-comment"),
    pytest.param("mdx", "{/* alttext: ignore */} ![](a.png)", [], id="mdx-comment-marker"),
    pytest.param("mdx", "    ![](a.png)", [(1, 5, "ALT001")], id="mdx-no-indented-code"),
    pytest.param("mdx", "<div>\n![](a.png)\n</div>", [(2, 1, "ALT001")], id="mdx-markdown-in-jsx"),
    pytest.param("mdx", '<img src="a.png" alt={caption} />', [], id="mdx-alt-expression-present"),
    pytest.param("mdx", '<img src="a.png" alt={""} />', [], id="mdx-alt-empty-expression-decorative"),
    pytest.param("mdx", "<img src={img} alt={'A { brace'} />", [], id="mdx-braces-in-strings"),
    pytest.param("mdx", "<img src={require('./a.png').default} />", [(1, 1, "ALT001")], id="mdx-src-expression"),
    pytest.param("mdx", "<figure>![](a.png)<figcaption>A</figcaption></figure>", [(1, 9, "ALT001")], id="mdx-image-after-jsx-tag"),
    pytest.param("mdx", "{x}\n\n![](<a b.png>)", [(3, 1, "ALT001")], id="mdx-angle-bracket-destination"),
    # ESM is a block of its own: an import or export line that continues a paragraph is text.
    pytest.param("mdx", "To show it,\nimport the file first: ![](a.png)", [(2, 24, "ALT001")], id="mdx-import-word-in-paragraph"),
    pytest.param("mdx", "export![](a.png)", [(1, 7, "ALT001")], id="mdx-export-needs-a-space"),
    pytest.param("mdx", "# T\nexport const m = '![](x.png)';", [], id="mdx-export-after-heading"),
    pytest.param("gfm", 'See <a href="/"><img src="a.png" alt=""></a>', [(1, 17, "ALT003")], id="raw-html-link-in-markdown"),
    pytest.param("mdx", '<a href="/"><img src="a.png" alt={""} /></a>', [(1, 13, "ALT003")], id="mdx-linked-empty"),
    pytest.param("gfm", '<a href="/">![](a.png)</a>', [(1, 13, "ALT003")], id="markdown-image-in-raw-link"),
    pytest.param("gfm", '<a href="/" aria-label="Home"><img src="a.png" alt=""></a> x', [], id="raw-link-named"),
    pytest.param("gfm", '<a href="/"><img src="a.png" alt=""> Home</a>', [], id="raw-link-with-text"),
    # MkDocs
    pytest.param("mkdocs", '!!! note "T"\n    ![](a.png)', [(2, 5, "ALT001")], id="mkdocs-admonition"),
    pytest.param("mkdocs", "???+ tip\n\n    ![](a.png)", [(3, 5, "ALT001")], id="mkdocs-details-open"),
    pytest.param("mkdocs", '=== "A"\n\n    ![](a.png)\n\n=== "B"\n\n    ![](b.png)', [(3, 5, "ALT001"), (7, 5, "ALT001")], id="mkdocs-tabs"),
    pytest.param("mkdocs", "!!! note\n    !!! tip\n        ![](a.png)", [(3, 9, "ALT001")], id="mkdocs-nested"),
    pytest.param("mkdocs", "!!! note\n    ```\n    ![](a.png)\n    ```", [], id="mkdocs-fence-in-admonition"),
    pytest.param("mkdocs", "- item\n\n    !!! note\n        ![](a.png)", [(4, 9, "ALT001")], id="mkdocs-admonition-in-list"),
    pytest.param("mkdocs", '<div markdown="1">\n![](a.png)\n</div>', [(2, 1, "ALT001")], id="mkdocs-md-in-html"),
    pytest.param("mkdocs", "<div>\n![](a.png)\n</div>", [], id="mkdocs-html-without-markdown-attr"),
    pytest.param("mkdocs", '![](a.png){ width="300" }', [(1, 1, "ALT001")], id="mkdocs-attr-list"),
    pytest.param("mkdocs", '--8<-- "a.md"\n![](a.png)', [(2, 1, "ALT001")], id="mkdocs-snippet-marker-is-text"),
    pytest.param("mkdocs", "Text\n\n    ![](a.png)", [], id="mkdocs-indented-code-is-code"),
    # Jekyll
    pytest.param("jekyll", "![]({{ site.url }}/a.png)", [(1, 1, "ALT001")], id="jekyll-liquid-in-destination"),
    pytest.param("jekyll", "{% raw %}\n![](a.png)\n{% endraw %}", [], id="jekyll-raw"),
    pytest.param("jekyll", "{% highlight md %}\n![](a.png)\n{% endhighlight %}", [], id="jekyll-highlight"),
    pytest.param("jekyll", "{% comment %}![](a.png){% endcomment %}", [], id="jekyll-comment"),
    pytest.param("jekyll", '<img src="{{ x }}" {% if y %}alt="{{ y }}"{% endif %}>', [], id="jekyll-conditional-alt"),
    pytest.param("jekyll", "<img src={{ x }} class=a>", [(1, 1, "ALT001")], id="jekyll-unquoted-liquid-value"),
    pytest.param("jekyll", '<img src="{{ x }}" alt="{% t logo %}">', [], id="jekyll-translated-alt"),
    pytest.param("jekyll", "![](a.png){: .wide}", [(1, 1, "ALT001")], id="jekyll-kramdown-ial"),
    # Hugo
    pytest.param("hugo", '{{< figure src="a.png" >}}', [(1, 1, "ALT001")], id="hugo-figure-no-alt"),
    pytest.param("hugo", '{{< figure src="a.png" alt="A lake" />}}', [], id="hugo-figure-alt"),
    pytest.param("hugo", "{{< figure src=a.png caption=`Dawn` >}}", [], id="hugo-figure-caption-is-alt"),
    pytest.param("hugo", '{{< figure src="a.png" alt="" >}}', [(1, 1, "ALT001")], id="hugo-figure-empty-alt"),
    pytest.param("hugo", '{{</* figure src="a.png" */>}}', [], id="hugo-escaped-shortcode"),
    pytest.param("hugo", '```\n{{< figure src="a.png" >}}\n```', [(2, 1, "ALT001")], id="hugo-shortcode-runs-in-code"),
    pytest.param("hugo", '{{% notice %}}\n![](a.png)\n{{% /notice %}}', [(2, 1, "ALT001")], id="hugo-markdown-in-shortcode"),
    pytest.param("hugo", '![]({{< param "c" >}})', [(1, 1, "ALT001")], id="hugo-shortcode-in-destination"),
    # Every engine: front matter, linked images
    pytest.param("gfm", "---\nimage: ![](a.png)\n---\n[![](b.png)](/)", [(4, 2, "ALT003")], id="gfm-front-matter-and-link"),
    pytest.param("commonmark", "<!-- alttext: decorative -->\n[![](b.png)](/)", [(2, 2, "ALT003")], id="linked-never-decorative"),
]


@pytest.mark.parametrize(("engine", "md", "expected"), CASES)
def test_engine_rules(engine: str, md: str, expected: list[tuple[int, int, str]]) -> None:
    assert found(md, "markdown", engine=engine) == expected


HTML_LINKED = [
    pytest.param('<a href="/"><img src="a.png" alt=""></a>', [(1, 13, "ALT003")], id="empty-alt"),
    pytest.param('<a href="/"><img src="a.png"></a>', [(1, 13, "ALT003")], id="missing-alt"),
    pytest.param('<a href="/">\n  <img src="a.png" role="presentation">\n</a>', [(2, 3, "ALT003")], id="presentation"),
    pytest.param('<a href="/" aria-label="Home"><img src="a.png" alt=""></a>', [], id="link-has-aria-label"),
    pytest.param('<a href="/">Home <img src="a.png" alt=""></a>', [], id="link-has-text"),
    pytest.param('<a href="/"><img src="a.png" alt="Home"><img src="b.png" alt=""></a>', [], id="another-image-names-it"),
    pytest.param('<a name="top"><img src="a.png" alt=""></a>', [], id="anchor-without-href"),
    pytest.param('<a href="/"><img src="a.png" alt="{{ t.home }}"></a>', [], id="dynamic-alt"),
    pytest.param('<a href="/"><img src="a.png" alt=""></a><a href="/b">B</a>', [(1, 13, "ALT003")], id="next-link-separate"),
]


@pytest.mark.parametrize(("html", "expected"), HTML_LINKED)
def test_linked_images_in_html(html: str, expected: list[tuple[int, int, str]]) -> None:
    assert found(html, "html") == expected


ENGINE_LINES = [
    "", "", "text", "![](p.png)", "    ![](i.png)", "!!! note", "    !!! tip", "        ![](n.png)", '=== "T"',
    "<div markdown>", "</div>", "{% raw %}", "{% endraw %}", "{{ x }}", "![]({{ u }}/a.png)", "{/* ![](c.png) */}",
    "import A from 'a'", "export const b = 1", '{{< figure src="f.png" >}}', "```", "- item", "> ![](q.png)",
    "<Tabs>", "</Tabs>", "[r]: r.png", "![][r]", "    ```", "\t```", "      ~~~", "  - ```",
]


@given(st.sampled_from(["mdx", "mkdocs", "jekyll", "hugo", "commonmark"]), st.lists(st.sampled_from(ENGINE_LINES), min_size=1, max_size=30))
@settings(max_examples=600, deadline=None)
def test_chunked_equals_full_in_every_engine(engine: str, lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    assert scan_markdown(text, engine=engine) == scan_markdown(text, engine=engine, everything=True)
