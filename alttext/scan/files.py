"""Which files to check, reading them safely, and checking many on both cores."""

from __future__ import annotations

import codecs
import errno
import functools
import hashlib
import os
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from alttext import messages
from alttext.model import FileError, FileResult, Report, Settings
from alttext.scan import scan_text
from alttext.scan.engines import built, detect
from alttext.scan.ignore import ignored
from alttext.scan.paths import GlobSet, kind_of, relative_path

ALWAYS_SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "site-packages"})
_PARALLEL_MIN_FILES = 64


def _display(path: str) -> str:
    return os.path.normpath(path).replace(os.sep, "/")


def _is_virtualenv(path: str) -> bool:
    return os.path.exists(os.path.join(path, "pyvenv.cfg"))


def parse_shard(value: str) -> tuple[int, int]:
    """``"K/N"`` (1 <= K <= N) -> ``(K, N)``; ValueError with a readable reason otherwise."""
    k, sep, n = value.partition("/")
    try:
        shard = (int(k), int(n))
    except ValueError:
        shard = (0, 0)
    if not sep or not 1 <= shard[0] <= shard[1]:
        raise ValueError(f"--shard expects K/N with 1 <= K <= N, such as 1/4, not {value!r}")
    return shard


def in_shard(path: str, shard: tuple[int, int], root: str) -> bool:
    """Whether ``path`` belongs to shard K of N. A file's shard depends only on its path from the
    project root, so it is the same on every machine and stays put when other files come and go
    (each shard's cache keeps its hits)."""
    k, n = shard
    key = relative_path(path, os.path.abspath(root)).encode("utf-8")
    return int(hashlib.sha256(key).hexdigest()[:16], 16) % n == k - 1


def discover(paths: Sequence[str], settings: Settings) -> tuple[list[str], list[FileError]]:
    """Files to check, in a stable order, and the paths that do not exist."""
    include = GlobSet(settings.include)
    include_anchored = include.anchored
    exclude = GlobSet(settings.exclude)
    root = os.path.abspath(settings.root)
    files: list[str] = []
    errors: list[FileError] = []
    seen: set[str] = set()

    def add(path: str) -> None:
        shown = _display(path)
        if shown not in seen:
            seen.add(shown)
            files.append(shown)

    for arg in paths or ["."]:
        if os.path.isdir(arg):
            walked: list[str] = []
            for dirpath, dirnames, filenames in os.walk(arg):
                dirnames[:] = sorted(d for d in dirnames if not _skipped_folder(os.path.join(dirpath, d), settings, exclude, root))
                for name in sorted(filenames):
                    path = os.path.join(dirpath, name)
                    # Include globs select files by name (or anchored path), never because a
                    # directory on the way matches: a folder called notes.md holds no Markdown.
                    rel = relative_path(path, root) if exclude or include_anchored else ""
                    if _picks(name, rel, include, exclude, path, settings):
                        walked.append(_display(path))
            for path in sorted(walked):
                add(path)
        elif os.path.lexists(arg):
            # Named explicitly (as pre-commit does): checked whatever its suffix, unless excluded.
            if not (exclude and exclude.match(relative_path(arg, root))):
                add(arg)
        else:
            errors.append(FileError(_display(arg), messages.ERR_NOT_FOUND.format(path=_display(arg))))
    return files, errors


def selected(path: str, settings: Settings, top: str) -> bool:
    """Whether walking the folder ``top`` would pick ``path`` (the rules ``discover`` applies)."""
    top, absolute = os.path.abspath(top), os.path.abspath(path)
    if absolute == top:
        return True  # a file named explicitly
    rel = os.path.relpath(absolute, top)
    if rel.startswith(".."):
        return False
    root = os.path.abspath(settings.root)
    include, exclude = GlobSet(settings.include), GlobSet(settings.exclude)
    parts = rel.split(os.sep)
    folder = top
    for name in parts[:-1]:
        folder = os.path.join(folder, name)
        if _skipped_folder(folder, settings, exclude, root):
            return False
    return _picks(parts[-1], relative_path(absolute, root), include, exclude, absolute, settings)


def _skipped_folder(folder: str, settings: Settings, exclude: GlobSet, root: str) -> bool:
    """Whether a walk leaves ``folder`` out: hidden, a dependency or virtual environment, a site
    engine's built output, ignored by .gitignore or .ignore, or excluded."""
    name = os.path.basename(folder)
    absolute = os.path.abspath(folder)
    return (name.startswith(".") or name in ALWAYS_SKIPPED_DIRS or _is_virtualenv(folder) or built(absolute)
            or (settings.respect_ignore and ignored(absolute, True)) or bool(exclude and exclude.match(relative_path(folder, root))))


def _picks(name: str, rel: str, include: GlobSet, exclude: GlobSet, path: str, settings: Settings) -> bool:
    """Whether a walked file called ``name`` (``rel`` from the project root) is checked."""
    if not (include.match_name(name) or (include.anchored and include.match_anchored(rel))):
        return False
    return not (exclude and exclude.match(rel)) and not (settings.respect_ignore and ignored(os.path.abspath(path), False))


def read_document(path: str, settings: Settings) -> tuple[str | None, FileError | None]:
    """The file decoded as UTF-8 (BOM removed), or one clear error naming the file."""
    document, error = load_document(path, settings)
    return (document.text if document else None), error


@dataclass(frozen=True)
class Document:
    path: str
    data: bytes  # the bytes as read: a write must find them unchanged
    text: str  # decoded, BOM removed
    bom: bool


def load_document(path: str, settings: Settings) -> tuple[Document | None, FileError | None]:
    """The file's bytes and text, or one clear error naming the file."""

    def fail(template: str, **kw: object) -> tuple[None, FileError]:
        return None, FileError(path, template.format(path=path, **kw))

    try:
        info = os.stat(path)
    except FileNotFoundError:
        return fail(messages.ERR_BROKEN_LINK if os.path.islink(path) else messages.ERR_NOT_FOUND)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return fail(messages.ERR_LINK_LOOP)
        return fail(messages.ERR_UNREADABLE, reason=exc.strerror or exc)
    if not stat.S_ISREG(info.st_mode):
        return fail(messages.ERR_NOT_FILE)
    if info.st_size > settings.max_file_size:
        return fail(messages.ERR_TOO_LARGE, size=info.st_size, limit=settings.max_file_size)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return fail(messages.ERR_UNREADABLE, reason=exc.strerror or exc)
    return decode(path, data)


def decode(path: str, data: bytes) -> tuple[Document | None, FileError | None]:
    """The document in ``data`` (the bytes of ``path``), or one clear error naming it."""
    # Named rather than read: a fix must write back the bytes it read, in their encoding.
    encoding = _wide_encoding(data)
    if encoding:
        return None, FileError(path, messages.ERR_WIDE_ENCODING.format(path=path, encoding=encoding))
    if b"\x00" in data:
        return None, FileError(path, messages.ERR_BINARY.format(path=path, kind="Markdown" if kind_of(path) == "markdown" else "HTML"))
    bom = data.startswith(codecs.BOM_UTF8)
    body = data[len(codecs.BOM_UTF8) :] if bom else data
    try:
        return Document(path, data, body.decode("utf-8"), bom), None
    except UnicodeDecodeError as exc:
        return None, FileError(path, messages.ERR_NOT_UTF8.format(path=path, byte=body[exc.start], offset=exc.start))


def _wide_encoding(data: bytes) -> str | None:
    """``UTF-16`` or ``UTF-32`` for text that starts with that byte order mark and decodes as it."""
    # UTF-32 first: its little-endian mark begins with UTF-16's.
    for name, marks in (("UTF-32", (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)), ("UTF-16", (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))):
        if data.startswith(marks) and len(data) > len(marks[0]):
            try:
                data.decode(name)
            except UnicodeDecodeError:
                continue
            return name
    return None


def check_file(path: str, settings: Settings, data: bytes | None = None) -> FileResult:
    """The findings of one file; ``data``: its bytes, read already (an editor's buffer on stdin)."""
    if data is None:
        text, error = read_document(path, settings)
    else:
        document, error = decode(path, data)
        text = document.text if document else None
    if error is not None:
        return FileResult(path, error=error)
    assert text is not None
    warnings: list[str] = []
    unchecked: list[str] = []
    findings = scan_text(path, text, settings, engine=detect(path, settings), warnings=warnings, unchecked=unchecked)
    # A part that could not be checked is an error: the gate must not call the file clean.
    error = FileError(path, unchecked[0]) if unchecked else None
    return FileResult(path, findings=findings, error=error, warnings=tuple(warnings))


def _jobs(settings: Settings, n_files: int) -> int:
    if n_files < _PARALLEL_MIN_FILES:
        return 1
    return settings.jobs or os.cpu_count() or 1


def check_paths(paths: Sequence[str], settings: Settings) -> Report:
    files, errors = discover(paths, settings)
    work = functools.partial(check_file, settings=settings)
    jobs = _jobs(settings, len(files))
    if jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # fork: the children inherit the imported parser instead of importing it again.
        method = "fork" if sys.platform != "win32" else None
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context(method)) as pool:
            results = list(pool.map(work, files, chunksize=max(1, len(files) // (jobs * 32))))
    else:
        results = [work(path) for path in files]
    findings = tuple(f for r in results for f in r.findings)
    errors.extend(r.error for r in results if r.error is not None)
    return Report(files_checked=len(results), findings=findings, errors=tuple(errors), warnings=tuple(w for r in results for w in r.warnings))
