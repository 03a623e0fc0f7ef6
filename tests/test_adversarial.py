"""Issue #24: hostile text through ``alttext fix`` into every kind of page, built by the real engines.

The hostile text comes from a model (a real OpenAI-protocol server on 127.0.0.1 answers each
picture with one of ``MODEL``) or from the picture itself (an SVG ``<title>`` from ``SVG``,
through ``--backend none``). Each page holds the hostile image and a plain one. For every page
kind, one ``fix`` run does all the pages and one build makes them all; then, per page:

- fix did not crash, and what it printed about the page has no control or invisible character;
- the file changed only inside the two alt texts, and the plain image was fixed (a hostile one
  must not leave the rest of the file unfixed);
- the page builds, has the same elements and attributes as the same page with a plain alt, and the
  reader gets an alt text with no backslash, no template or shortcode delimiter and nothing
  invisible, the text fix said it wrote, and no template ran.

A kind whose engine is not installed skips its build checks (``.ci/engines`` installs them; with
``ALTTEXT_CI=1`` they fail instead).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest

from tests import engines
from tests.engines import BuildError
from tests.openai_server import Script, serve

# The model's answers. Each keeps plain words ("dog") around its payload: a cleaner that removes
# the payload still has an alt text to write, and the writer's checks keep the sentence.
MODEL = {
    "liquid-tag": "A dog {% include x.html %} on the grass.",
    "liquid-output": "A dog {{ site.title }} on the grass.",
    "liquid-close": "A dog %} on the grass.",
    "liquid-raw-end": "A dog {% endraw %} on the grass.",
    "hugo-shortcode": "A dog {{< figure src=x >}} on the grass.",
    "hugo-markdown-shortcode": "A dog {{% figure src=x %}} on the grass.",
    "hugo-close": "A dog >}} on the grass.",
    "go-template": "A dog {{ .Site.Title }} on the grass.",
    "html-script": 'A dog "><script>alert(1)</script> on the grass.',
    "html-attribute": 'A dog" onerror="alert(1) on the grass.',
    "html-single-quote": "A dog' onerror='alert(1) on the grass.",
    "figcaption-close": "A dog </figcaption></figure><p>x on the grass.",
    "html-entities": "A dog &lt;b&gt; &#123; &amp; on the grass.",
    "mdx-expression": "A dog {alert(1)} on the grass.",
    "mdx-component": "<Comp /> a dog on the grass.",
    "mdx-import": "import x from 'y'\n\nA dog on the grass.",
    "mdx-export": "export const a = 1\n\nA dog on the grass.",
    "backslashes": "A dog \\ on C:\\grass\\\\ here.",
    "escaped-ampersand": "A dog \\& a cat on the grass.",
    "escaped-brace": "A dog \\{ a cat \\} on the grass.",
    "ampersand": "A dog & a cat on the grass.",
    "tilde": "A dog ~ a cat ~ on the grass.",
    "asterisk": "A dog * a cat * on the grass.",
    "underscore": "A dog_with_a_hat on _the_ grass.",
    "brackets": "A dog ] on [ the grass.",
    "link-javascript": "A dog [x](javascript:alert(1)) on the grass.",
    "image": "A dog ![a](b) on the grass.",
    "autolink": "A dog <http://e.example> on the grass.",
    "backticks": "A dog `code` on ``the`` grass.",
    "pipe": "A dog | a cat | on the grass.",
    "esc-colour": "\x1b[31mA red dog\x1b[0m on the grass.",
    "osc8-link": "A dog \x1b]8;;http://e\x07x\x1b]8;;\x07 on the grass.",
    "c1-csi": "A dog \x9b31m on \x85 the grass.",
    "bell-backspace": "A dog\x07\x08 on the grass.",
    "nul": "A dog\x00 on the grass.",
    "right-to-left-override": "A dog \u202esag on the grass.",
    "zero-width": "A dog\u200b on\u200d the\ufeff grass\u2060.",
    "arabic-letter-mark": "A dog\u061c on the grass.",
    "line-separator": "A dog\u2028on the\u2029grass.",
    "newlines": "A dog\n\non the grass.\r\n\r\nIt runs.\n",
    "very-long": "A dog " + "and a dog " * 200 + "on the grass.",
    "kramdown-footnote": "^2 dogs on the grass.",
    "comparisons": "A dog >= 2 cats, x < 5, a -> b on the grass.",
    "key-names": "A dog <Ctrl>+<C> on the grass.",
    "legacy-references": "A dog &region=us&times=3 &copy on the grass.",
}
# The picture's own text, with no model (--backend none): the alt text is composed from it.
SVG = {
    "svg-liquid": "A map {% include footer.html %}",
    "svg-liquid-output": "A map {{ site.title }}",
    "svg-hugo-shortcode": "A map {{< figure src=x >}}",
    "svg-mdx-expression": "A map {alert(1)}",
    "svg-html": 'A map "><script>alert(1)</script>',
    "svg-escapes": "A map \\& Tom ~ Jerry * x_y",
    "svg-invisible": "A map\u200b \u202eof the\u061c park",
}
CASES = [*MODEL, *SVG]
NUMBER = {case: k for k, case in enumerate(CASES, 1)}
PLAIN_ALT = "A dog"
CONTROL_REPLY = "A dog on the grass."
SITE_TITLE = "SITETITLEMARKER"  # a template that runs prints these
INCLUDED = "INCLUDEMARKER"
# What must not reach a terminal: C0 and C1 controls but the line break, and the invisible
# formatting characters (zero-width, direction marks and overrides, BOM, separators).
UNSAFE_OUTPUT = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u2028\u2029]")
# What must not reach a rendered alt text: the same, and templating that a later build (another
# engine, a theme that re-renders content) could run.
TEMPLATE = ("{%", "%}", "{{", "}}", "{{<", ">}}")


def _svg(title: str) -> str:
    escaped = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><title>{escaped}</title>'
            '<rect width="64" height="64" fill="#7a6"/></svg>\n')


# Page kinds. In a template, @N@ is the case number, @H@ the hostile image's alt slot and @C@ the
# plain image's; a slot is a Markdown label (between ![ and ]) or an attribute (before > or />).
LABEL, ATTRIBUTE, SHORTCODE = "label", "attribute", "shortcode"


@dataclass(frozen=True)
class Kind:
    name: str
    engine: str  # html, commonmark, jekyll, hugo, mdx
    page: str  # the page's path in the site
    template: str
    hostile: str  # LABEL, ATTRIBUTE or SHORTCODE
    control: str = LABEL
    src: str = "img/@N@.svg"

    def path(self, case: str) -> str:
        return self.page.replace("@N@", f"{NUMBER[case]:02d}")


_MD = "# Walks\n\nWe walked the dog.\n\n![@H@](img/@N@.svg)\n\n![@C@](img/control.svg)\n"
_HUGO_FRONT = "---\ntitle: Walks\n---\n\nWe walked the dog.\n\n"
KINDS = {
    k.name: k for k in [
        Kind("html", "html", "p@N@.html",
             '<!doctype html>\n<html><head><title>Walks</title></head><body>\n<h1>Walks</h1>\n<p>We walked the dog.</p>\n'
             '<p><img src="img/@N@.svg"@H@></p>\n<p><img src="img/control.svg"@C@></p>\n</body></html>\n', ATTRIBUTE, ATTRIBUTE),
        Kind("commonmark", "commonmark", "p@N@.md", _MD, LABEL),
        Kind("mdx", "mdx", "p@N@.mdx", _MD, LABEL),
        Kind("mdx-jsx", "mdx", "p@N@.mdx", '# Walks\n\nWe walked the dog.\n\n<img src="img/@N@.svg"@H@ />\n\n![@C@](img/control.svg)\n',
             ATTRIBUTE),
        Kind("jekyll", "jekyll", "p@N@.md", "---\ntitle: Walks\n---\n" + _MD, LABEL),
        Kind("hugo", "hugo", "content/p@N@.md", _HUGO_FRONT + "![@H@](/img/@N@.svg)\n\n![@C@](/img/control.svg)\n", LABEL,
             src="/img/@N@.svg"),
        Kind("hugo-figure", "hugo", "content/p@N@.md",
             _HUGO_FRONT + '{{< figure src="/img/@N@.svg"@H@ >}}\n\n![@C@](/img/control.svg)\n', SHORTCODE, src="/img/@N@.svg"),
    ]
}
_SLOT_TEXT = {LABEL: "{}", ATTRIBUTE: ' alt="{}"', SHORTCODE: ' alt="{}"'}
# What fix may put in a slot, and nothing else anywhere.
_SLOT_PATTERN = {
    LABEL: r"(?P<{}>[^\n]*?)",
    ATTRIBUTE: r'(?: alt="(?P<{}>[^"\n]*)")?',
    SHORTCODE: r'(?: alt="(?P<{}>(?:[^"\\\n]|\\.)*)")?',
}


def _page(kind: Kind, case: str, hostile: str = "", control: str = "") -> str:
    def slot(style: str, text: str) -> str:
        return _SLOT_TEXT[style].format(text) if text else ""

    number = f"{NUMBER[case]:02d}" if case else "control"
    return kind.template.replace("@N@", number).replace("@H@", slot(kind.hostile, hostile)).replace("@C@", slot(kind.control, control))


def _only_the_alts(kind: Kind, case: str) -> re.Pattern[str]:
    pattern = re.escape(kind.template.replace("@N@", f"{NUMBER[case]:02d}"))
    pattern = pattern.replace("@H@", _SLOT_PATTERN[kind.hostile].format("h"), 1).replace("@C@", _SLOT_PATTERN[kind.control].format("c"), 1)
    return re.compile(pattern)


# The server: each picture's answer, found by the token its SVG title carries.


@dataclass
class Answers(Script):
    by_token: dict[str, str] = field(default_factory=dict)

    def next(self, pictures: bool = False) -> tuple[int, str | bytes, float]:
        with self.lock:  # one request at a time (concurrency = 1): the last one is this one
            prompt = "\n".join(m["content"] for m in self.requests[-1]["body"]["messages"])
        return next(((200, reply, 0.0) for token, reply in self.by_token.items() if token in prompt), (200, CONTROL_REPLY, 0.0))


def _token(case: str) -> str:
    return f"qz{NUMBER[case]:02d}qz"


# One fix run per kind and source (model or SVG), one build per kind.


@dataclass
class Run:
    kind: Kind
    root: str
    rc: dict[str, int] = field(default_factory=dict)  # per source: "model", "svg"
    output: dict[str, str] = field(default_factory=dict)  # stdout and stderr, per source
    lines: dict[str, list[str]] = field(default_factory=dict)  # per case: what fix printed about its page
    written: dict[str, str] = field(default_factory=dict)  # per case and "base": the page after fix
    rendered: dict[str, str | BuildError] | None = None  # per case and "base"; None: no engine here


def _printed_lines(output: str, pages: dict[str, str]) -> tuple[dict[str, list[str]], list[str]]:
    """The lines about each page (a line that starts with no page belongs to the one before it,
    as when a printed text breaks the line), and the lines about none."""
    by_path = {path: case for case, path in pages.items()}
    owner: str | None = None
    found: dict[str, list[str]] = {case: [] for case in pages}
    general: list[str] = []
    for line in output.split("\n"):
        path = next((p for p in sorted(by_path, key=len, reverse=True)
                     if line.startswith(p + ":") or line == f"Rewriting {p}"), None)
        if path is not None:
            owner = by_path[path]
        elif line.startswith("alttext: "):
            owner = None
        (found[owner] if owner else general).append(line)
    return found, general


def _fix(root: str, argv: list[str]) -> tuple[int, str]:
    from alttext.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(root)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(["fix", "--debug", *argv])
            except BaseException as exc:  # a crash is a result here
                print(f"CRASH {type(exc).__name__}: {exc}", file=err)
                rc = -1
    finally:
        os.chdir(old)
    return rc, out.getvalue() + err.getvalue()


def _site(kind: Kind, root: str, url: str) -> str:
    """Every case's page, a page with plain alt texts, the pictures and the configuration, in the
    kind's site; returns the path of the plain page."""
    images = {"img/control.svg": _svg("A dog on the grass")}
    images.update({f"img/{NUMBER[c]:02d}.svg": _svg(_token(c)) for c in MODEL})
    images.update({f"img/{NUMBER[c]:02d}.svg": _svg(SVG[c]) for c in SVG})
    config = (f'backend = "openai"\nbase_url = "{url}"\nwriter_model = "qwen3-0.6b"\ncaptioner = "none"\nocr = "off"\n'
              'grounding = "off"\ncache = false\nconcurrency = 1\n')
    if kind.engine == "commonmark":
        config += 'engine = "commonmark"\n'
    base = kind.page.replace("@N@", "base")
    pages = {kind.path(c): _page(kind, c) for c in CASES} | {base: _page(kind, "", PLAIN_ALT, PLAIN_ALT)}
    if kind.engine == "jekyll":
        engines.jekyll_site(root, pages, {".alttext.toml": config, **images, "_includes/x.html": INCLUDED,
                                          "_includes/footer.html": INCLUDED}, title=SITE_TITLE)
    elif kind.engine == "hugo":
        engines.hugo_site(root, {os.path.relpath(p, "content"): text for p, text in pages.items()},
                          {".alttext.toml": config, **{os.path.join("static", n): t for n, t in images.items()}}, title=SITE_TITLE)
    else:
        engines.write_files(root, {".alttext.toml": config, **images, **pages})
    return base


def _render(kind: Kind, root: str, pages: dict[str, str]) -> dict[str, str | BuildError] | None:
    """Each page (key: its path) as a reader gets it, or None when the kind's engine is not here."""
    if kind.engine == "html":
        return {}  # the file is the page
    if kind.engine == "commonmark":
        from markdown_it import MarkdownIt

        md = MarkdownIt("commonmark")
        return {path: md.render(text) for path, text in pages.items()}
    if not engines.have(kind.engine):
        return None
    if kind.engine == "jekyll":
        return engines.build_jekyll(root, list(pages))
    if kind.engine == "hugo":
        built = engines.build_hugo(root, [os.path.relpath(p, "content") for p in pages])
        return {os.path.join("content", p): html for p, html in built.items()}
    return engines.build_mdx(pages)


def _make_run(kind: Kind, root: str, url: str) -> Run:
    base = _site(kind, root, url)
    paths = {case: kind.path(case) for case in CASES}
    run = Run(kind, root)
    for source, cases, backend in (("model", list(MODEL), "openai"), ("svg", list(SVG), "none")):
        rc, output = _fix(root, ["--backend", backend, *(paths[c] for c in cases)])
        run.rc[source], run.output[source] = rc, output
        found, general = _printed_lines(output, {c: paths[c] for c in cases})
        run.lines.update({case: found[case] + general for case in cases})
    for case, path in (*paths.items(), ("base", base)):
        with open(os.path.join(root, path), encoding="utf-8", newline="") as f:
            run.written[case] = f.read()
    rendered = _render(kind, root, {path: run.written[case] for case, path in (*paths.items(), ("base", base))})
    if rendered is not None:
        run.rendered = {case: rendered.get(path, run.written[case]) for case, path in (*paths.items(), ("base", base))}
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Run]]:
    """``runs(kind)``: that kind's pages fixed and built, the first time a test asks for it."""
    script = Answers(by_token={_token(c): reply for c, reply in MODEL.items()})
    done: dict[str, Run] = {}
    with serve(script) as url:

        def get(name: str) -> Run:
            if name not in done:
                done[name] = _make_run(KINDS[name], str(tmp_path_factory.mktemp(name)), url)
            return done[name]

        yield get


def _params() -> list[Any]:
    return [pytest.param(kind, case, id=f"{kind}-{case}") for kind in KINDS for case in CASES]


def _source(case: str) -> str:
    return "model" if case in MODEL else "svg"


# The checks.


@pytest.mark.parametrize(("kind", "case"), _params())
def test_fix_runs_and_prints_nothing_invisible(runs: Callable[[str], Run], kind: str, case: str) -> None:
    run = runs(kind)
    rc, output = run.rc[_source(case)], run.output[_source(case)]
    assert rc in (0, 1), f"fix exited {rc}:\n{output}"
    shown = "\n".join(run.lines[case])
    bad = sorted({f"U+{ord(ch):04X}" for ch in UNSAFE_OUTPUT.findall(shown)})
    assert not bad, f"fix printed {', '.join(bad)}: {shown!r}"


@pytest.mark.parametrize(("kind", "case"), _params())
def test_only_the_alt_texts_change(runs: Callable[[str], Run], kind: str, case: str) -> None:
    run = runs(kind)
    written = run.written[case]
    match = _only_the_alts(KINDS[kind], case).fullmatch(written)
    assert match is not None, f"the page changed outside its alt texts:\n{written}"
    # The plain image beside the hostile one is fixed: one bad alt text must not cost the page.
    assert match.group("c"), f"the plain image was not fixed: {run.lines[case]}"


def _added(run: Run, case: str) -> str | None:
    """The alt text fix said it wrote for the hostile image (None: it said it wrote none)."""
    src = KINDS[run.kind.name].src.replace("@N@", f"{NUMBER[case]:02d}")
    for line in run.lines[case]:
        m = re.fullmatch(r".*?:\d+:\d+: alt text added for " + re.escape(src) + r': "(.*)"', line)
        if m:
            return m.group(1)
    return None


class _Page(HTMLParser):
    """Start and end tags with their attribute names, and each image's alt (None: no alt)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, tuple[str, ...]]] = []
        self.images: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(sorted(name for name, _ in attrs if not (tag == "img" and name == "alt")))))
        if tag == "img":
            values = dict(attrs)
            self.images.append((values.get("src") or "", values.get("alt")))

    def handle_endtag(self, tag: str) -> None:
        self.tags.append(("/" + tag, ()))


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


# Typography the engine adds on its own (goldmark's typographer in Hugo), also when it escapes it
# twice (Hugo 0.111 writes alt="&amp;rsquo;", which a reader gets as "&rsquo;").
_TYPOGRAPHY = {"&rsquo;": "'", "&lsquo;": "'", "&rdquo;": '"', "&ldquo;": '"', "&hellip;": "...", "&ndash;": "--",
               "&mdash;": "---", "’": "'", "‘": "'", "”": '"', "“": '"', "…": "...", "–": "--", "—": "---"}


def _typography(text: str) -> str:
    for fancy, plain in _TYPOGRAPHY.items():
        text = text.replace(fancy, plain)
    return text


@pytest.mark.parametrize(("kind", "case"), _params())
def test_page_builds_and_the_alt_text_is_inert(runs: Callable[[str], Run], kind: str, case: str) -> None:
    run = runs(kind)
    engine = KINDS[kind].engine
    if run.rendered is None:
        engines.require(engine)
    assert run.rendered is not None
    base, html = run.rendered["base"], run.rendered[case]
    assert not isinstance(base, BuildError), f"the page with a plain alt text does not build: {base}"
    assert not isinstance(html, BuildError), f"the page does not build: {html}\n--- page:\n{run.written[case]}"
    for marker in (SITE_TITLE, INCLUDED):
        assert marker not in html, f"a template in the alt text ran: {marker} is in the page:\n{html}"
    page, plain = _parse(html), _parse(base)
    assert page.tags == plain.tags, f"the elements differ from the page with a plain alt text:\n{html}\n--- plain:\n{base}"
    src = KINDS[kind].src.replace("@N@", f"{NUMBER[case]:02d}")
    alts = [a for s, a in page.images if s == src]
    assert len(alts) == 1, f"the page does not show the image {src} once:\n{html}"
    alt = alts[0] or ""
    assert "\\" not in alt, f"a backslash reaches the reader: alt={alt!r}"
    assert not [t for t in TEMPLATE if t in alt], f"template syntax reaches the page: alt={alt!r}"
    assert "<script" not in alt.lower(), f"markup reaches the page: alt={alt!r}"
    bad = sorted({f"U+{ord(ch):04X}" for ch in alt if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")})
    assert not bad, f"invisible characters reach the reader ({', '.join(bad)}): alt={alt!r}"
    said = _added(run, case)
    assert _typography(alt) == _typography(said or ""), f"the page's alt is not what fix said it wrote: page {alt!r}, fix {said!r}"


@pytest.mark.parametrize(("kind", "case"), _params())
def test_the_words_get_through(runs: Callable[[str], Run], kind: str, case: str) -> None:
    # Every hostile text has plain words around it: made safe, it still describes the picture.
    said = _added(runs(kind), case) or ""
    assert re.search(r"dog|map", said, re.IGNORECASE), f"no alt text was written for the hostile image: {runs(kind).lines[case]}"
