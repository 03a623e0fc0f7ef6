"""Which Markdown dialect renders a file: from settings, or from the nearest site configuration.

| engine     | found by                                            | content folders (default)            |
| ---------- | --------------------------------------------------- | ------------------------------------ |
| mdx        | docusaurus.config.{js,ts,mjs,cjs}                   | docs, blog, src/pages, versioned_docs, i18n |
| mkdocs     | mkdocs.yml / mkdocs.yaml                            | ``docs_dir`` (docs)                  |
| jekyll     | _config.yml / _config.yaml / _config.toml           | ``source`` (the site folder)         |
| hugo       | hugo.{toml,yaml,json}, or config.{toml,yaml,json} beside content/ or layouts/ | ``contentDir`` (content) |

Markdown outside an engine's content folders, such as a README the Git host renders, is ``gfm``;
so is Markdown with no site configuration above it. ``.mdx`` files are always ``mdx``.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from typing import Any

from alttext.model import Settings
from alttext.scan.paths import GlobSet, kind_of, relative_path

ENGINES = ("commonmark", "gfm", "mdx", "mkdocs", "jekyll", "hugo")

_DOCUSAURUS = tuple(f"docusaurus.config.{ext}" for ext in ("js", "ts", "mjs", "cjs"))
_MKDOCS = ("mkdocs.yml", "mkdocs.yaml")
_JEKYLL = ("_config.yml", "_config.yaml", "_config.toml")
_HUGO = tuple(f"hugo.{ext}" for ext in ("toml", "yaml", "json"))
_HUGO_LEGACY = tuple(f"config.{ext}" for ext in ("toml", "yaml", "json"))
_DOCUSAURUS_CONTENT = ("docs", "blog", "src/pages", "versioned_docs", "i18n")


@dataclass(frozen=True)
class Site:
    engine: str
    root: str
    content: tuple[str, ...]  # absolute folders whose Markdown the engine renders
    output: tuple[str, ...] = ()  # absolute folders the engine builds into, or installs into: never the source
    served: str | None = None  # the absolute folder the site serves at ``/``, when not ``root`` (Jekyll's source)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(65536)
    except OSError:
        return ""


def _setting(text: str, key: str, indented: bool = True) -> str | None:
    """A top-level string setting from YAML, TOML or JSON, without a parser for each.
    ``indented=False`` for YAML keys that plugins also use under their own names."""
    indent = r"\s*" if indented else ""
    m = re.search(rf"""^{indent}"?{key}"?\s*[:=]\s*["']?([^"'\n#,]+?)["']?\s*,?\s*(?:#.*)?$""", text, re.MULTILINE)
    return m.group(1).strip() if m else None


def _site_in(directory: str) -> Site | None:
    names = set(os.listdir(directory)) if os.path.isdir(directory) else set()
    def inside(*folders: str) -> tuple[str, ...]:
        return tuple(os.path.normpath(os.path.join(directory, f)) for f in folders)

    for name in _DOCUSAURUS:
        if name in names:
            return Site("mdx", directory, inside(*_DOCUSAURUS_CONTENT), inside("build", ".docusaurus"))
    for name in _MKDOCS:
        if name in names:
            text = _read(os.path.join(directory, name))
            docs = _setting(text, "docs_dir") or "docs"
            return Site("mkdocs", directory, inside(docs), inside(_setting(text, "site_dir") or "site"))
    hugo = next((n for n in _HUGO if n in names), None)
    if hugo is None and ("content" in names or "layouts" in names or "archetypes" in names):
        hugo = next((n for n in _HUGO_LEGACY if n in names), None)
    if hugo:
        text = _read(os.path.join(directory, hugo))
        content = _setting(text, "contentDir") or "content"
        return Site("hugo", directory, inside(content, "layouts"), inside(_setting(text, "publishDir") or "public", "resources/_gen"))
    for name in _JEKYLL:
        if name in names:
            text = _read(os.path.join(directory, name))
            (source,) = inside(_setting(text, "source", indented=False) or ".")
            output = inside(_setting(text, "destination") or "_site", "vendor/bundle", ".jekyll-cache")
            return Site("jekyll", directory, (source,), output, source if source != directory else None)
    return None


def built(directory: str) -> bool:
    """Whether ``directory`` (absolute) is where a site engine builds its pages (``_site/``,
    ``public/``, ``site/``, ``build/``) or installs its gems: output, not the source."""
    parent = os.path.dirname(directory)
    return any(directory in (_site_at(base).output if _site_at(base) else ()) for base in (parent, os.path.dirname(parent)))


@functools.lru_cache(maxsize=4096)
def _site_at(directory: str) -> Site | None:
    """The site configured in ``directory`` itself (vendor/bundle and resources/_gen are two deep)."""
    return _site_in(directory)


@functools.lru_cache(maxsize=4096)
def site_for(directory: str) -> Site | None:
    """The nearest site configuration at or above ``directory`` (an absolute path)."""
    site = _site_in(directory)
    if site is not None:
        return site
    parent = os.path.dirname(directory)
    return None if parent == directory else site_for(parent)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def detect(path: str, settings: Settings) -> str:
    """The engine for a Markdown file, or for an HTML file the templating to neutralise
    (``jekyll``, ``hugo``) or ``html``."""

    markdown = kind_of(path) == "markdown"
    if settings.engines:
        rel = relative_path(path, settings.root)
        for pattern, engine in settings.engines:
            if _glob(pattern).match(rel):
                return engine if markdown else _html_engine(engine)
    if settings.engine != "auto":
        return settings.engine if markdown else _html_engine(settings.engine)
    absolute = os.path.abspath(path)
    if markdown and absolute.lower().endswith(".mdx"):
        return "mdx"
    site = site_for(os.path.dirname(absolute))
    if site is None:
        return "gfm" if markdown else "html"
    if not markdown:
        return _html_engine(site.engine)
    if os.path.dirname(absolute) == site.root and os.path.basename(absolute).lower().startswith("readme"):
        return "gfm"  # rendered by the Git host, not the site
    if any(_inside(absolute, folder) for folder in site.content):
        return site.engine
    return "gfm"


@functools.lru_cache(maxsize=256)
def _glob(pattern: str) -> Any:

    return GlobSet([pattern])


def _html_engine(engine: str) -> str:
    return engine if engine in ("jekyll", "hugo") else "html"
