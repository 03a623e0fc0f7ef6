"""``.gitignore`` and ``.ignore`` files, honoured the way ruff and ripgrep honour them.

- ``.gitignore`` files count inside a Git work tree: those in the walked folders, and those in the
  folders above them up to the work tree's root. ``.ignore`` files count everywhere.
- A file's patterns are relative to its folder and apply below it; a deeper file's patterns come
  after a shallower one's, so a deeper ``!pattern`` can take a path back.
- The patterns are read with ``pathspec``'s ``GitIgnoreSpec``, which follows Git's own rules.

``--no-ignore`` (``respect_ignore = false``) turns all of it off.
"""

from __future__ import annotations

import functools
import os
from typing import Any

NAMES = (".gitignore", ".ignore")


@functools.lru_cache(maxsize=4096)
def _spec(directory: str) -> Any:
    """The patterns of the ignore files in ``directory`` (absolute), or None when it has none."""
    import pathspec

    lines: list[str] = []
    for name in NAMES:
        if name == ".gitignore" and _git_root(directory) is None:
            continue
        try:
            with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as f:
                lines += f.read().splitlines()
        except OSError:
            continue
    return pathspec.GitIgnoreSpec.from_lines(lines) if lines else None


@functools.lru_cache(maxsize=4096)
def _git_root(directory: str) -> str | None:
    """The root of the Git work tree holding ``directory``, or None."""
    if os.path.exists(os.path.join(directory, ".git")):
        return directory
    parent = os.path.dirname(directory)
    return None if parent == directory else _git_root(parent)


def _folders(path: str) -> list[str]:
    """The folders whose ignore files can speak of ``path``: its own folder's ancestors, from the
    Git root (or the filesystem root outside Git) down."""
    folder = os.path.dirname(path)
    stop = _git_root(folder)
    chain = []
    while True:
        chain.append(folder)
        parent = os.path.dirname(folder)
        if folder == stop or parent == folder:
            break
        folder = parent
    return chain[::-1]


def ignored(path: str, is_dir: bool) -> bool:
    """Whether the ignore files above ``path`` (absolute) leave it out."""
    verdict = False
    for folder in _folders(path):
        spec = _spec(folder)
        if spec is None:
            continue
        rel = os.path.relpath(path, folder).replace(os.sep, "/") + ("/" if is_dir else "")
        result = spec.check_file(rel)
        if result.include is not None:
            verdict = result.include
    return verdict
