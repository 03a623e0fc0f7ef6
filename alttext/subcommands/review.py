"""``alttext review``: each picture beside its proposed alt text in a browser, or one exported page."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import webbrowser

from alttext import messages
from alttext.config import load_settings
from alttext.fixing.review import ReportError
from alttext.fixing.review_server import Review, Server, export
from alttext.fixing.write import write_atomic
from alttext.model import EXIT_CLEAN, EXIT_ERROR


def run(args: argparse.Namespace) -> int:
    settings = load_settings({}, config_path=args.config)
    if not args.report.lower().endswith(".json"):
        print(messages.REVIEW_JSON.format(path=args.report), file=sys.stderr)
        return EXIT_ERROR
    editor = args.editor_url
    if editor is None:
        editor = "vscode://file/{path}:{line}:{column}" if os.environ.get("TERM_PROGRAM") == "vscode" else ""
    try:
        editor.format(path="/a", line=1, column=1)
    except (KeyError, IndexError, ValueError, AttributeError):
        print(messages.REVIEW_EDITOR.format(template=editor), file=sys.stderr)
        return EXIT_ERROR
    try:
        review = Review(args.report, settings, editor=editor)
    except ReportError as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    if args.export:
        return _export(review, args.export)
    return _serve(review, args.port, browser=not args.no_browser)


def _export(review: Review, path: str) -> int:
    import PIL  # noqa: F401 - the pictures are shrunk before they go in: the fix extra

    try:
        write_atomic(path, export(review).encode("utf-8"), None)
    except OSError as exc:
        print(messages.REVIEW_UNWRITABLE.format(path=path, reason=exc.strerror or exc), file=sys.stderr)
        return EXIT_ERROR
    print(messages.REVIEW_EXPORTED.format(path=path, entries=len(review.rows)), file=sys.stderr)
    return EXIT_CLEAN


def _serve(review: Review, port: int, browser: bool) -> int:
    try:
        server = Server(review, port=port)
    except OSError as exc:
        print(messages.REVIEW_PORT.format(port=port, reason=exc.strerror or exc), file=sys.stderr)
        return EXIT_ERROR
    print(messages.REVIEW_SERVING.format(url=server.url), file=sys.stderr, flush=True)
    opener = _open_privately(server.url) if browser else None
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if opener:
            with contextlib.suppress(OSError):
                os.unlink(opener)
    return EXIT_CLEAN


def _open_privately(url: str) -> str | None:
    """Open ``url`` in the browser through a file only this user can read that redirects to it:
    the browser's command line, which any local user can list, then holds no token (as Jupyter
    does). The file's path, to remove at the end."""
    fd, path = tempfile.mkstemp(prefix="alttext-review-", suffix=".html")  # mode 0600
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f'<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={url}"><a href="{url}">alttext review</a>\n')
    webbrowser.open("file://" + path)
    return path
