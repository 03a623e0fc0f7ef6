"""``alttext review REPORT.json``: each picture beside its proposed alt text, in a browser.

A small HTTP server (the standard library's) on 127.0.0.1 serves one page, the report's entries
as JSON, and each entry's picture. Every request must carry the random token of the URL printed
at start (``?token=`` or the ``X-Alttext-Token`` header), and a ``Host`` of this machine, so that
neither another user's process nor a web page (DNS rebinding) can read or change the report.
Each decision (accept, edit, decorative, skip) is saved into the report at once, atomically; Apply
writes the accepted and decorative entries through ``alttext apply``'s verified path.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import secrets
import tempfile
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from alttext import escape, messages

from alttext.fixing import commands
from alttext.model import Settings
from alttext.fixing.review import load, render
from alttext.fixing.write import Changed, Refused, write_atomic

DECISIONS = ("accepted", "decorative", "skipped", "")  # "": not decided yet
THUMBNAIL_PX = 480
EXPORT_PX = 320  # the export embeds every picture: smaller still
MAX_BODY = 1 << 20  # a decision is a few hundred bytes
PAGE_FIELDS = ("index", "has_image", "editor", "picture")  # set by the server, never taken from a report
# What a browser shows, by the file's first bytes.
MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"),
         (b"BM", "image/bmp"))


class ReviewError(Exception):
    pass


class Conflict(Exception):
    """The report cannot be saved: it changed on disk, or may not be written."""


class Review:
    """The report being reviewed: its entries, saved back after every decision."""

    def __init__(self, report: str, settings: Settings, editor: str = "") -> None:
        self.report = report
        self.settings = settings
        self.editor = editor  # a link template: vscode://file/{path}:{line}:{column}
        self.root = os.path.realpath(settings.root)
        try:
            with open(report, "rb") as f:
                self._on_disk: bytes | None = f.read()  # what a save may replace, and nothing else
        except OSError:
            self._on_disk = None  # load() says what is wrong
        self.rows = load(report)
        self.lock = threading.Lock()

    def entries(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self._shown(k) for k in range(len(self.rows))]

    def _shown(self, index: int) -> dict[str, Any]:
        """The entry as the page gets it: with its index, whether it has a picture, and the link
        that opens its place in the editor."""
        row = self.rows[index]
        # The page's own fields come from here only, never from the report: a report cannot
        # choose a link or a picture source.
        shown = {k: v for k, v in row.items() if k not in PAGE_FIELDS}
        shown.update(index=index, has_image=self.image_path(index) is not None)
        if self.editor:
            path = os.path.abspath(os.path.join(self.root, str(row["path"])))
            shown["editor"] = self.editor.format(path=urllib.parse.quote(path), line=row["line"], column=row["column"])
        return shown

    def image_path(self, index: int) -> str | None:
        """The entry's picture as a file under the project root that is a picture, or None: a
        report names its pictures relative to the root, and nothing else is ever served (a page
        may point an image at any file; ``.env`` is not shown)."""
        if not 0 <= index < len(self.rows):
            return None
        image = str(self.rows[index].get("image") or "")
        if not image or os.path.isabs(image) or image.startswith(("/", "\\")):
            return None
        path = os.path.realpath(os.path.join(self.root, image))
        if not path.startswith(self.root + os.sep) or not os.path.isfile(path) or picture_kind(path) is None:
            return None
        return path

    def decide(self, index: int, decision: str, alt: str | None) -> dict[str, Any]:
        if decision not in DECISIONS:
            raise ReviewError(messages.REVIEW_BAD_DECISION.format(decision=decision))
        with self.lock:
            if not 0 <= index < len(self.rows):
                raise ReviewError(messages.REVIEW_NO_ENTRY.format(index=index))
            before = self.rows[index]
            row = dict(before)
            if alt is not None:
                row["alt"] = escape.plain(alt)
            if decision:
                row["review"] = decision
            else:
                row.pop("review", None)
            self.rows[index] = row
            data = render(self.rows, self.report).encode("utf-8")
            try:
                # Only over the bytes this review read or last wrote: an edit made meanwhile by
                # someone else (another review, an editor) is never overwritten.
                write_atomic(self.report, data, self._on_disk)
            except (Changed, Refused, OSError) as exc:
                self.rows[index] = before
                if isinstance(exc, Changed):
                    raise Conflict(messages.REVIEW_CHANGED.format(path=self.report)) from None
                reason = str(exc) if isinstance(exc, Refused) else (exc.strerror or str(exc))
                raise Conflict(messages.REVIEW_NOT_SAVED.format(path=self.report, reason=reason)) from None
            self._on_disk = data
            return self._shown(index)

    def apply(self) -> dict[str, Any]:
        """Write the accepted and decorative entries, as ``alttext apply`` would."""
        with self.lock:
            chosen = [row for row in self.rows if row.get("review") in ("accepted", "decorative")]
        if not chosen:
            return {"rc": 0, "lines": ["nothing accepted yet"]}
        out, err = io.StringIO(), io.StringIO()
        fd, path = tempfile.mkstemp(prefix="alttext-review-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(render(chosen, path))
            mode = commands.Mode(False, False, True, False)
            rc = commands.apply(path, self.settings, mode, out=out, err=err)
        finally:
            os.unlink(path)
        lines = [line for line in (out.getvalue() + err.getvalue()).splitlines() if line]
        return {"rc": rc, "lines": lines}


def picture_kind(path: str) -> str | None:
    """The picture's media type, from its first bytes (an SVG: its root element), or None where
    the file is no picture a browser shows."""
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError:
        return None
    for magic, kind in MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:12] in (b"ftypavif", b"ftypavis"):
        return "image/avif"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"  # shown once Pillow turns it into a PNG
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if path.lower().endswith(".svg") and (text.startswith(b"<svg") or (text.startswith((b"<?xml", b"<!--", b"<!doctype")) and b"<svg" in head.lower())):
        return "image/svg+xml"
    return None


def thumbnail(path: str, size: int = THUMBNAIL_PX) -> tuple[bytes, str]:
    """The picture, shrunk to at most ``size`` pixels on its longest side (PNG) where Pillow reads
    it, or as it is (an SVG, or any picture without Pillow: a browser shows an SVG in an ``<img>``
    without running its scripts)."""
    kind = picture_kind(path)
    if kind is None:
        raise OSError(f"{path} is not a picture")
    if kind != "image/svg+xml":
        try:
            from PIL import Image

            with Image.open(path) as image:
                image.thumbnail((size, size))
                buffer = io.BytesIO()
                image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB").save(buffer, "PNG", optimize=True)
                return buffer.getvalue(), "image/png"
        except Exception:  # Pillow missing, or it cannot read this one: the file as it is
            pass
    with open(path, "rb") as f:
        return f.read(), kind


def export(review: Review) -> str:
    """One self-contained page: the styles, the script, every entry and its picture (shrunk, as
    a data: URL) inside it. It loads nothing and sends nothing (its policy forbids both); its
    decisions download as a report for ``alttext apply``."""
    entries = review.entries()
    for entry in entries:
        path = review.image_path(entry["index"])
        if path is not None:
            try:
                body, kind = thumbnail(path, EXPORT_PX)
            except OSError:
                continue
            entry["picture"] = f"data:{kind};base64,{base64.b64encode(body).decode('ascii')}"
    data = json.dumps({"report": review.report, "entries": entries}, ensure_ascii=False)
    data = data.replace("<", "\\u003c")  # "</script>" in a model's text cannot end the block
    script, style = asset("review.js").decode("utf-8"), asset("review.css").decode("utf-8")

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"

    policy = (f"default-src 'none'; script-src {digest(script)}; style-src {digest(style)}; img-src data:; "
              "base-uri 'none'; form-action 'none'")
    page = asset("review.html").decode("utf-8")
    page = page.replace('<link rel="stylesheet" href="review.css">',
                        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n<style>{style}</style>')
    page = page.replace('<script src="review.js" defer></script>\n', "")
    return page.replace("</body>", f'<script type="application/json" id="entries-data">{data}</script>\n<script>{script}</script>\n</body>')


def asset(name: str) -> bytes:
    return resources.files("alttext").joinpath("static", name).read_bytes()


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, review: Review, port: int = 0, token: str | None = None) -> None:
        self.review = review
        self.token = token or secrets.token_urlsafe(24)
        super().__init__(("127.0.0.1", port), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/?token={self.token}"


class Handler(BaseHTTPRequestHandler):
    server: Server
    # Nothing of the page may come from elsewhere, and nothing on it may be framed or inlined.
    POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
              "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the standard library's name
        pass

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", self.POLICY)
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def _allowed(self, query: dict[str, list[str]]) -> bool:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        if host not in ("127.0.0.1", "localhost"):
            return False  # a page elsewhere that resolved its own name to 127.0.0.1
        given = self.headers.get("X-Alttext-Token") or (query.get("token") or [""])[0]
        return hmac.compare_digest(given.encode(), self.server.token.encode())

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        url = urllib.parse.urlsplit(self.path)
        if not self._allowed(urllib.parse.parse_qs(url.query)):
            return self._json(HTTPStatus.FORBIDDEN, {"error": messages.REVIEW_NO_TOKEN})
        if url.path == "/":
            # The page's own assets are asked for with the token too (it is URL-safe base64).
            token = self.server.token.encode("ascii")
            page = asset("review.html").replace(b'"review.css"', b'"review.css?token=' + token + b'"')
            page = page.replace(b'"review.js"', b'"review.js?token=' + token + b'"')
            return self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")
        if url.path in ("/review.js", "/review.css"):
            kind = "text/javascript" if url.path.endswith(".js") else "text/css"
            return self._send(HTTPStatus.OK, asset(url.path[1:]), kind + "; charset=utf-8")
        if url.path == "/api/entries":
            review = self.server.review
            return self._json(HTTPStatus.OK, {"report": review.report, "entries": review.entries()})
        if url.path.startswith("/image/") and url.path[7:].isdigit():
            path = self.server.review.image_path(int(url.path[7:]))
            if path is None:
                return self._json(HTTPStatus.NOT_FOUND, {"error": "no picture for this entry"})
            try:
                body, kind = thumbnail(path)
            except OSError:
                return self._json(HTTPStatus.NOT_FOUND, {"error": "no picture for this entry"})
            return self._send(HTTPStatus.OK, body, kind)
        return self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        url = urllib.parse.urlsplit(self.path)
        if not self._allowed(urllib.parse.parse_qs(url.query)):
            return self._json(HTTPStatus.FORBIDDEN, {"error": messages.REVIEW_NO_TOKEN})
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": "a body of the wrong size"})
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": "not JSON"})
        review = self.server.review
        try:
            if url.path.startswith("/api/entries/") and url.path[13:].isdigit() and isinstance(body, dict):
                if not isinstance(body.get("review"), str):
                    raise ReviewError(messages.REVIEW_NO_DECISION)
                alt = body.get("alt")
                if alt is not None and not isinstance(alt, str):
                    raise ReviewError(messages.REVIEW_ALT_NOT_TEXT)
                return self._json(HTTPStatus.OK, review.decide(int(url.path[13:]), str(body.get("review") or ""), alt))
            if url.path == "/api/apply":
                return self._json(HTTPStatus.OK, review.apply())
        except ReviewError as exc:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except Conflict as exc:
            return self._json(HTTPStatus.CONFLICT, {"error": str(exc)})
        except OSError as exc:
            return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{review.report}: {exc.strerror or exc}"})
        return self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
