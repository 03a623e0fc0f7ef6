"""Descriptions cached by content: the image's SHA-256 and a fingerprint of everything else that
changes the text (the evidence modules' versions and the OCR engine's, the captioner and its
precision, backend, writer model, quantization, prompt version, language, length, grounding,
language fallback, the page context).

SQLite in WAL mode, so two runs (two pre-commit hooks, CI jobs on one runner) can read and write
at once. A cache is only ever an optimisation: a locked, unwritable or corrupt one is reported on
stderr and bypassed, never fatal. A corrupt file is moved aside and a new one started; a healthy
one that cannot be written (a read-only file, folder or disk) is read, and nothing is saved.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alttext import messages
from alttext.model import Settings
from alttext.pipeline.backends import captioner_label, writer_label, writer_quantization
from alttext.pipeline import evidence, prompt
from alttext.pipeline.evidence import kind, metadata, ocr

FILE_NAME = "descriptions.sqlite3"
# Bumped when what a cached description means changes (cleaning, the guard, the stored fields).
SCHEMA = 2
BUSY_TIMEOUT_S = 10.0

Key = tuple[str, str]  # (image sha256, fingerprint)


def folder_for(settings: Settings) -> str:
    return os.path.join(settings.root, settings.cache_dir)


def fingerprint(settings: Settings, language: str, context: Iterable[tuple[str, str]]) -> str:
    """What, besides the image, decides the description."""
    parts = {
        "schema": SCHEMA,
        # Read as the modules' attributes at each call: what they say now.
        "evidence": [evidence.VERSION, kind.VERSION, metadata.VERSION, ocr.engine_version() if settings.ocr != "off" else "off"],
        "language_fallback": settings.language_fallback,
        # The BLIP model as before; ``openai:model (vision prompt version)``; ``none``.
        "captioner": captioner_label(settings),
        "captioner_precision": settings.captioner_precision,
        "backend": settings.backend,
        "writer_model": writer_label(settings),
        "quantize": writer_quantization(settings),
        "prompt": prompt.PROMPT_VERSION,
        "language": language,
        "length": settings.length,
        "grounding": settings.grounding,
        "context": [list(item) for item in context],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def file_sha256(path: str) -> str | None:
    """The file's SHA-256, or None when it cannot be read (the pipeline then says why)."""
    digest = hashlib.sha256()
    try:
        # Without blocking, and only a regular file: opening a FIFO waits for a writer forever.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            with open(fd, "rb", closefd=False) as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        finally:
            os.close(fd)
    except OSError:
        return None
    return digest.hexdigest()


@dataclass(frozen=True)
class Stats:
    path: str
    entries: int
    images: int
    size: int  # bytes on disk, the WAL included


class Cache:
    """One cache folder. Every method degrades to a miss (or a no-op) once the cache has failed."""

    def __init__(self, folder: str, warn: Callable[[str], None]) -> None:
        self.folder = folder
        self.path = os.path.join(folder, FILE_NAME)
        self._warn = warn
        self._db: sqlite3.Connection | None = None
        self.failed = False
        self.read_only = False

    # Opening -------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is not None or self.failed:
            return self._db
        try:
            if not os.path.isdir(self.folder):
                # A folder of our own: keep it out of version control, as pytest and ruff do.
                os.makedirs(self.folder)
                with open(os.path.join(self.folder, ".gitignore"), "w", encoding="utf-8") as f:
                    f.write("# Created by alttext: a cache, never committed.\n*\n")
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            if _locked(exc):
                return self._fail(messages.CACHE_LOCKED.format(path=self.path))
            if _error_name(exc).startswith("SQLITE_READONLY") and os.path.exists(self.path):
                self._db = self._open_read_only(exc)
            elif _error_name(exc).startswith("SQLITE_CORRUPT") or _error_name(exc) == "SQLITE_NOTADB":
                self._db = self._recover(exc)
            else:
                # Not shown to be corrupt (a full disk, an I/O error): left as it is.
                return self._fail(messages.CACHE_UNUSABLE.format(path=self.path, reason=exc))
        except OSError as exc:
            return self._fail(messages.CACHE_UNUSABLE.format(path=self.path, reason=exc.strerror or exc))
        return self._db

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS descriptions (image TEXT NOT NULL, fingerprint TEXT NOT NULL, "
                "value TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (image, fingerprint)) WITHOUT ROWID"
            )
            db.execute("SELECT count(*) FROM descriptions").fetchone()
        except BaseException:
            db.close()
            raise
        return db

    def _open_read_only(self, exc: sqlite3.Error) -> sqlite3.Connection | None:
        """The cache as it is, for reading only; one warning line says nothing new is saved."""
        uri = "file:" + urllib.parse.quote(os.path.abspath(self.path))
        reasons = [str(exc)]
        # mode=ro still needs the WAL index beside the file; where the folder is read-only too it
        # cannot be made, and immutable (no index, no locks) reads the file alone.
        for query in ("mode=ro", "immutable=1"):
            db = sqlite3.connect(f"{uri}?{query}", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            try:
                db.execute("SELECT count(*) FROM descriptions").fetchone()
            except sqlite3.Error as again:
                db.close()
                reasons.append(str(again))
                continue
            self._read_only(exc)
            return db
        return self._fail(messages.CACHE_UNUSABLE.format(path=self.path, reason="; ".join(reasons)))

    def _read_only(self, exc: sqlite3.Error) -> None:
        if not self.read_only:
            self._warn(messages.CACHE_READ_ONLY.format(path=self.path, reason=exc))
        self.read_only = True

    def _recover(self, exc: sqlite3.DatabaseError) -> sqlite3.Connection | None:
        """Move a corrupt file aside and start again; if even that fails, run without a cache."""
        aside = f"{self.path}.corrupt-{int(time.time())}"
        try:
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                if os.path.exists(self.path + suffix):
                    os.remove(self.path + suffix)
            db = self._open()
        except (OSError, sqlite3.Error) as again:
            return self._fail(messages.CACHE_UNUSABLE.format(path=self.path, reason=f"{exc}; {again}"))
        self._warn(messages.CACHE_CORRUPT.format(path=self.path, reason=exc, aside=aside))
        return db

    def _fail(self, message: str) -> None:
        if not self.failed:
            self._warn(message)
        self.failed = True
        if self._db is not None:
            self._db.close()
            self._db = None
        return None

    def _error(self, exc: sqlite3.Error) -> None:
        if _locked(exc):
            self._fail(messages.CACHE_LOCKED.format(path=self.path))
        elif _error_name(exc).startswith("SQLITE_READONLY"):
            self._read_only(exc)  # opened for writing, but the file, folder or disk says no
        else:
            self._fail(messages.CACHE_UNUSABLE.format(path=self.path, reason=exc))

    # Use ----------------------------------------------------------------------------------

    def get(self, keys: Sequence[Key]) -> dict[Key, dict[str, Any]]:
        """The cached values of ``keys`` that are present and readable."""
        db = self._connect()
        found: dict[Key, dict[str, Any]] = {}
        if db is not None and keys:
            try:
                unique = list(dict.fromkeys(keys))
                for start in range(0, len(unique), 400):  # SQLite caps the parameters per statement
                    chunk = unique[start : start + 400]
                    where = " OR ".join(["(image = ? AND fingerprint = ?)"] * len(chunk))
                    rows = db.execute(f"SELECT image, fingerprint, value FROM descriptions WHERE {where}", [v for k in chunk for v in k])
                    for image, fp, value in rows:
                        entry = _entry(value)
                        if entry is not None:
                            found[(image, fp)] = entry
            except sqlite3.Error as exc:
                self._error(exc)
                return {}
        return found

    def put(self, items: Mapping[Key, Mapping[str, Any]]) -> None:
        db = self._connect()
        if db is None or not items or self.read_only:
            return
        now = time.time()
        rows = [(image, fp, json.dumps(dict(value), ensure_ascii=False), now) for (image, fp), value in items.items()]
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT OR REPLACE INTO descriptions VALUES (?, ?, ?, ?)", rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            self._error(exc)

    def stats(self) -> Stats:
        size = sum(os.path.getsize(self.path + s) for s in ("", "-wal") if os.path.exists(self.path + s))
        if not os.path.exists(self.path):
            return Stats(self.path, 0, 0, 0)
        db = self._connect()
        if db is None:
            return Stats(self.path, 0, 0, size)
        try:
            entries, images = db.execute("SELECT count(*), count(DISTINCT image) FROM descriptions").fetchone()
        except sqlite3.Error as exc:
            self._error(exc)
            return Stats(self.path, 0, 0, size)
        return Stats(self.path, entries, images, size)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def clear(folder: str) -> int:
    """Remove the cache files (a corrupt one too); the number of entries it held, when readable."""
    path = os.path.join(folder, FILE_NAME)
    entries = 0
    if os.path.exists(path):
        try:
            db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
            try:
                entries = db.execute("SELECT count(*) FROM descriptions").fetchone()[0]
            finally:
                db.close()
        except sqlite3.Error:
            entries = 0
    for name in os.listdir(folder) if os.path.isdir(folder) else ():
        if name.startswith(FILE_NAME):
            os.remove(os.path.join(folder, name))
    return entries


def _entry(value: str) -> dict[str, Any] | None:
    """A stored description, or None for an entry that is not one (a miss: the image is
    described again and the new value replaces it)."""
    try:
        entry = json.loads(value)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) and isinstance(entry.get("text"), str) else None


def _error_name(exc: sqlite3.Error) -> str:
    """SQLite's name for the error (``SQLITE_READONLY_DIRECTORY``); '' for errors raised in Python."""
    return getattr(exc, "sqlite_errorname", None) or ""


def _locked(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def open_cache(settings: Settings, warn: Callable[[str], None]) -> Cache | None:
    return Cache(folder_for(settings), warn) if settings.cache else None
