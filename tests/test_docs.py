"""The README is a front page and docs/ holds the rest: every link between them resolves, the
mkdocs site lists every page, and alttext finds nothing to report in its own documentation."""

from __future__ import annotations

import glob
import os
import re

import pytest

from alttext.cli import main
from tests.conftest import REPO

PAGES = sorted([os.path.join(REPO, "README.md"), os.path.join(REPO, "CONTRIBUTING.md"), os.path.join(REPO, "benchmarks", "README.md"),
                *glob.glob(os.path.join(REPO, "docs", "*.md"))])
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _prose(text: str) -> str:
    """The page without its code blocks and code spans (a link in an example is not a link)."""
    return re.sub(r"(`+).+?\1", "", re.sub(r"^```.*?^```", "", text, flags=re.S | re.M))


def _anchors(path: str) -> set[str]:
    """The heading ids GitHub (and mkdocs' toc with the same slugs) gives a page's headings."""
    anchors = set()
    for heading in re.findall(r"^#{1,6} (.+)$", re.sub(r"^```.*?^```", "", _text(path), flags=re.S | re.M), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
        anchors.add(slug.replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("page", PAGES, ids=[os.path.relpath(p, REPO) for p in PAGES])
def test_every_relative_link_resolves(page: str) -> None:
    broken = []
    for target in LINK.findall(_prose(_text(page))):
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
        if not os.path.exists(resolved):
            broken.append(f"{target}: no such file")
        elif anchor and resolved.endswith(".md") and anchor not in _anchors(resolved):
            broken.append(f"{target}: no such heading")
    assert not broken, broken


def test_the_readme_is_a_front_page() -> None:
    assert len(_text(os.path.join(REPO, "README.md")).splitlines()) <= 200


def test_mkdocs_lists_every_page() -> None:
    import yaml

    with open(os.path.join(REPO, "mkdocs.yml"), encoding="utf-8") as f:
        config = yaml.safe_load(f)

    def pages(nav: object) -> list[str]:
        if isinstance(nav, str):
            return [nav]
        if isinstance(nav, list):
            return [p for item in nav for p in pages(item)]
        if isinstance(nav, dict):
            return [p for value in nav.values() for p in pages(value)]
        return []

    listed = pages(config["nav"])
    on_disk = sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO, config["docs_dir"], "*.md")))
    assert sorted(set(listed)) == on_disk and len(listed) == len(set(listed))


def test_alttext_finds_nothing_in_its_own_docs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(REPO)
    assert main(["check", "--strict", "README.md", "docs", "benchmarks/README.md"]) == 0, capsys.readouterr()
