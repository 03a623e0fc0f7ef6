"""Paths: which kind of document a file is, paths relative to a root, and the glob sets of
include, exclude and per-file ignores. Shared by the scanner, the file walk and the engines."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mdx"})


def kind_of(path: str) -> str:
    return "markdown" if os.path.splitext(path)[1].lower() in MARKDOWN_SUFFIXES else "html"


def _translate(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            close = pattern.find("]", i + 2)
            if close == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : close].replace("\\", "\\\\")
                out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
                i = close
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


class GlobSet:
    """gitignore-like globs: a pattern with a ``/`` is anchored at the project root, one
    without matches any single path component (a file name or any directory on the way)."""

    def __init__(self, patterns: Iterable[str]) -> None:
        anchored, loose = [], []
        for p in patterns:
            p = p.strip()
            if not p:
                continue
            if "/" in p.rstrip("/"):
                anchored.append(_translate(p.strip("/")))
            else:
                loose.append(_translate(p.rstrip("/")))
        self._anchored = re.compile("|".join(f"(?:{a})" for a in anchored) + r"\Z") if anchored else None
        self._loose = re.compile("|".join(f"(?:{p})" for p in loose) + r"\Z") if loose else None

    def __bool__(self) -> bool:
        return bool(self._anchored or self._loose)

    @property
    def anchored(self) -> bool:
        return self._anchored is not None

    def match_name(self, name: str) -> bool:
        return bool(self._loose and self._loose.match(name))

    def match_anchored(self, relpath: str) -> bool:
        """Only the patterns with a ``/``, against the whole relative path."""
        return bool(self._anchored and self._anchored.match(relpath))

    def match(self, relpath: str) -> bool:
        parts = relpath.split("/")
        if self._loose and any(self._loose.match(part) for part in parts):
            return True
        if self._anchored:
            return any(self._anchored.match("/".join(parts[: i + 1])) for i in range(len(parts)))
        return False


def relative_path(path: str, root: str) -> str:
    absolute = os.path.abspath(path)
    rel = os.path.relpath(absolute, root)
    if rel.startswith(".."):
        rel = absolute.lstrip("/")
    return rel.replace(os.sep, "/")
