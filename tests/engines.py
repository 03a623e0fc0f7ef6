"""The real site engines, for tests: Jekyll (Liquid, then kramdown), Hugo (Go templates,
shortcodes, goldmark) and @mdx-js/mdx (compiled and run). Each builds pages and returns the HTML a
reader gets, or raises ``BuildError`` with the engine's own message when the build breaks.

Builds are offline and quick: one site per call, however many pages; when a page breaks the build,
it is set aside with its error and the rest are built again, so one bad page does not hide the
others. ``.ci/engines`` installs the engines; ``have(engine)`` says whether this machine has one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import pytest

from tests.conftest import IN_CI, REPO

ENGINES = ("jekyll", "hugo", "mdx")
# npm ci --prefix tests/mdx installs the pinned @mdx-js/mdx here.
MDX_PACKAGE = os.path.join(REPO, "tests", "mdx")
MDX_SCRIPT = os.path.join(REPO, "tests", "data", "adversarial", "mdx_html.mjs")
INSTALL = "bash .ci/engines"

JEKYLL_CONFIG = "title: {title}\nmarkdown: kramdown\n"
HUGO_CONFIG = (
    'baseURL = "http://example.org/"\ntitle = "{title}"\n'
    'disableKinds = ["home", "section", "taxonomy", "term", "RSS", "sitemap", "robotsTXT", "404"]\n'
    # Raw HTML kept, as most sites that write HTML in Markdown set it: markup an alt text let
    # through would then reach the page.
    "[markup.goldmark.renderer]\nunsafe = true\n"
)
HUGO_LAYOUT = "{{ .Content }}\n"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TIMEOUT = 120


class BuildError(Exception):
    """The engine refused the page. ``message``: the engine's first line about it; ``output``: all
    it printed (colours removed)."""

    def __init__(self, engine: str, page: str, output: str) -> None:
        self.engine, self.page, self.output = engine, page, output
        self.message = next((line.strip() for line in output.splitlines() if line.strip()), "no message")
        super().__init__(f"{engine} could not build {page}: {self.message}")


def have(engine: str) -> bool:
    """Whether ``engine`` (jekyll, hugo or mdx) can build pages on this machine."""
    if engine == "mdx":
        return bool(shutil.which("node")) and os.path.isfile(os.path.join(MDX_PACKAGE, "node_modules", "@mdx-js", "mdx", "package.json"))
    if engine in ("jekyll", "hugo"):
        return bool(shutil.which(engine))
    raise ValueError(f"unknown engine {engine!r}")


def require(engine: str) -> None:
    """Skip the test when ``engine`` is not installed here; fail in CI, which installs them all."""
    if not have(engine):
        if IN_CI:
            pytest.fail(f"{engine} is not installed, and CI installs every site engine ({INSTALL})")
        pytest.skip(f"{engine} is not installed (run {INSTALL})")


def version(engine: str) -> str:
    """The engine's version, for messages and reports."""
    if engine == "mdx":
        with open(os.path.join(MDX_PACKAGE, "node_modules", "@mdx-js", "mdx", "package.json"), encoding="utf-8") as f:
            return "@mdx-js/mdx " + json.load(f)["version"]
    done = subprocess.run([engine, "version" if engine == "hugo" else "--version"], capture_output=True, text=True, timeout=_TIMEOUT)
    return done.stdout.strip()


# Sites: a folder that holds the configuration and the pages. Page names are paths relative to it.


def jekyll_site(root: str, pages: Mapping[str, str], files: Mapping[str, str] | None = None, title: str = "Site") -> None:
    """A Jekyll site in ``root``: ``_config.yml`` (kramdown, no layout), ``pages`` and other ``files``."""
    write_files(root, {"_config.yml": JEKYLL_CONFIG.format(title=title), **(files or {}), **pages})


def hugo_site(root: str, pages: Mapping[str, str], files: Mapping[str, str] | None = None, title: str = "Site") -> None:
    """A Hugo site in ``root``: ``hugo.toml``, a layout that renders ``.Content`` alone, and
    ``pages`` under ``content/`` (the built-in shortcodes, ``figure`` among them, work)."""
    content = {os.path.join("content", name): text for name, text in pages.items()}
    write_files(root, {"hugo.toml": HUGO_CONFIG.format(title=title), "layouts/_default/single.html": HUGO_LAYOUT, **(files or {}), **content})


def build_jekyll(root: str, pages: list[str]) -> dict[str, str | BuildError]:
    """Each page's HTML (a ``.md`` page at ``a/b.md`` is ``a/b.html``), built by Jekyll from a
    copy of the site in ``root``."""

    def run(source: str, out: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["jekyll", "build", "--quiet", "--safe", "--disable-disk-cache", "-s", source, "-d", out],
                              capture_output=True, text=True, timeout=_TIMEOUT)

    return _build("jekyll", root, pages, run, lambda page: os.path.splitext(page)[0] + ".html")


def build_hugo(root: str, pages: list[str]) -> dict[str, str | BuildError]:
    """Each page's HTML (``content/a/b.md`` is ``a/b/index.html``), built by Hugo from a copy
    of the site in ``root``. ``pages`` are paths under ``content/``, in lower case (Hugo's URLs are)."""

    def run(source: str, out: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["hugo", "--quiet", "--noBuildLock", "-s", source, "-d", out],
                              capture_output=True, text=True, timeout=_TIMEOUT)

    return _build("hugo", root, [os.path.join("content", p) for p in pages], run,
                  lambda page: os.path.join(os.path.splitext(os.path.relpath(page, "content"))[0], "index.html"), strip="content")


def build_mdx(documents: Mapping[str, str]) -> dict[str, str | BuildError]:
    """Each MDX document's HTML: compiled by @mdx-js/mdx and run, as a site runs it (an expression
    is evaluated, a component must exist, an import is imported)."""
    if not documents:
        return {}
    names = list(documents)
    done = subprocess.run(["node", MDX_SCRIPT, MDX_PACKAGE], input=json.dumps([documents[n] for n in names]),
                          capture_output=True, text=True, timeout=_TIMEOUT)
    if done.returncode != 0:
        raise BuildError("mdx", "the batch", done.stderr.strip())
    results = json.loads(done.stdout)
    return {name: r["html"] if "html" in r else BuildError("mdx", name, r["error"]) for name, r in zip(names, results)}


# One page at a time.


def jekyll_html(markdown_page: str, root: str | None = None) -> str:
    """The HTML Jekyll makes of one page (front matter included in ``markdown_page``)."""
    with _folder(root) as site:
        jekyll_site(site, {"page.md": markdown_page})
        return _one(build_jekyll(site, ["page.md"]))


def hugo_html(page: str, root: str | None = None) -> str:
    """The HTML Hugo makes of one content page (Markdown, shortcodes too)."""
    with _folder(root) as site:
        hugo_site(site, {"page.md": page})
        return _one(build_hugo(site, ["page.md"]))


def mdx_html(mdx: str) -> str:
    """The HTML of one MDX document."""
    return _one(build_mdx({"page.mdx": mdx}))


def _one(results: dict[str, str | BuildError]) -> str:
    [result] = results.values()
    if isinstance(result, BuildError):
        raise result
    return result


@contextmanager
def _folder(root: str | None) -> Iterator[str]:
    if root is not None:
        os.makedirs(root, exist_ok=True)
        yield root
        return
    with tempfile.TemporaryDirectory(prefix="alttext-site-") as folder:
        yield folder


def write_files(root: str, files: Mapping[str, str]) -> None:
    """Each of ``files`` (path in ``root``: text), written as it is (no newline translation)."""
    for name, text in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)


def _build(engine: str, root: str, pages: list[str], run: Callable[[str, str], subprocess.CompletedProcess[str]],
           output: Callable[[str], str], strip: str = "") -> dict[str, str | BuildError]:
    """Build a copy of the site; a page the engine names in its error is set aside and the rest
    built again. Keys are ``pages`` (without ``strip``, the content folder)."""
    results: dict[str, str | BuildError] = {}
    left = list(pages)
    with tempfile.TemporaryDirectory(prefix=f"alttext-{engine}-", dir=os.path.dirname(os.path.abspath(root))) as work:
        source, out = os.path.join(work, "site"), os.path.join(work, "out")
        shutil.copytree(root, source, ignore=shutil.ignore_patterns(".alttext-cache"))
        while left:
            shutil.rmtree(out, ignore_errors=True)
            done = run(source, out)
            if done.returncode == 0:
                break
            message = _ANSI.sub("", done.stderr + done.stdout).strip()
            broken = _named(message, left)
            if broken is None:  # the engine names no page: the site as a whole does not build
                for page in left:
                    results[page] = BuildError(engine, page, message)
                left = []
                break
            results[broken] = BuildError(engine, broken, message)
            left.remove(broken)
            os.remove(os.path.join(source, broken))
        for page in left:
            try:
                with open(os.path.join(out, output(page)), encoding="utf-8") as f:
                    results[page] = f.read()
            except FileNotFoundError:
                results[page] = BuildError(engine, page, f"no {output(page)} in the built site")
    return {(os.path.relpath(p, strip) if strip else p): results[p] for p in pages}


def _named(message: str, pages: list[str]) -> str | None:
    """The page the engine's message names first (by its path in the site, or within a longer path)."""
    found = []
    for page in pages:
        m = re.search(r"(?<![\w.-])" + re.escape(page) + r"(?![\w-]|\.\w)", message)
        if m:
            found.append((m.start(), page))
    return min(found)[1] if found else None
