from __future__ import annotations

import base64
import dataclasses
import http.server
import io
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from alttext.fixing.context import area_region, html_places
from alttext.fixing.locate import Resolver, largest_raster, parse_srcset
from alttext.model import Settings
from alttext.scan import scan_text

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def _site(tmp_path: os.PathLike[str], files: dict[str, bytes]) -> str:
    root = str(tmp_path)
    for name, data in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return root


def _resolver(root: str, **changes: object) -> Resolver:
    work = os.path.join(root, ".work")
    os.makedirs(work, exist_ok=True)
    return Resolver(dataclasses.replace(Settings(), root=root, **changes).images, work)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("document", "src", "found"),
    [
        pytest.param("docs/a.md", "img/cat.png", "docs/img/cat.png", id="relative-to-document"),
        pytest.param("docs/a.md", "../shared/dog.png", "shared/dog.png", id="parent-inside-root"),
        pytest.param("docs/a.md", "img/my%20cat.png", "docs/img/my cat.png", id="percent-encoded"),
        pytest.param("docs/a.md", "img/cat.png?v=3#top", "docs/img/cat.png", id="query-and-fragment"),
        pytest.param("docs/a.md", "/shared/dog.png", "shared/dog.png", id="root-relative"),
        pytest.param("docs/a.md", "/logo.png", "static/logo.png", id="root-relative-static-default"),
    ],
)
def test_resolves(tmp_path: os.PathLike[str], document: str, src: str, found: str) -> None:
    root = _site(tmp_path, {"docs/a.md": b"", "docs/img/cat.png": PNG, "docs/img/my cat.png": PNG, "shared/dog.png": PNG, "static/logo.png": PNG})
    r = _resolver(root).resolve(src, os.path.join(root, document))
    assert (r.reason, os.path.relpath(r.path or "", root)) == (None, found)


def test_jekyll_source_folder_is_served_at_the_root(tmp_path: os.PathLike[str]) -> None:
    from alttext.scan.engines import site_for

    site_for.cache_clear()
    root = _site(tmp_path, {"_config.yml": b"source: src\n", "src/_posts/p.md": b"", "src/assets/a.png": PNG, "assets/a.png": PNG})
    r = _resolver(root).resolve("/assets/a.png", os.path.join(root, "src", "_posts", "p.md"))
    assert (r.reason, r.path) == (None, os.path.join(root, "src", "assets/a.png"))


def test_site_root_and_engine_static_folders(tmp_path: os.PathLike[str]) -> None:
    root = _site(tmp_path, {"site/hugo.toml": b"", "site/content/p.md": b"", "site/static/img/a.png": PNG, "public/b.png": PNG})
    doc = os.path.join(root, "site", "content", "p.md")
    assert _resolver(root).resolve("/img/a.png", doc).path == os.path.join(root, "site", "static", "img/a.png")
    r = _resolver(root, site_root="", static_dirs=("../public",)).resolve("/b.png", doc)
    assert r.path == os.path.join(root, "site", "../public", "b.png")


@pytest.mark.parametrize(
    ("src", "reason"),
    [
        pytest.param("../../../../etc/passwd", "the src resolves outside the project root; refused", id="traversal"),
        pytest.param("/../../etc/passwd", "the src resolves outside the project root; refused", id="root-relative-traversal"),
        pytest.param("out/link.png", "the src resolves outside the project root; refused", id="symlink-out"),
        pytest.param("img/missing.png", "image not found (looked for docs/img/missing.png)", id="missing"),
        pytest.param("ftp://example.com/a.png", "ftp: URLs are not images alttext can read", id="scheme"),
        pytest.param("javascript:alert(1)", "a javascript: URL is a script, not an image; refused", id="javascript"),
        pytest.param("VBScript:x", "a vbscript: URL is a script, not an image; refused", id="vbscript"),
        pytest.param("file:///etc/passwd", "a file: URL names a file on one computer, not in the site; use a path relative to the page", id="file-url"),
        pytest.param("", "the image has no src", id="empty"),
        pytest.param("https://example.com/a.png", "a remote image; run with --fetch-remote to describe it", id="remote-off"),
        pytest.param("//cdn.example.com/a.png", "a remote image; run with --fetch-remote to describe it", id="protocol-relative"),
    ],
)
def test_refuses(tmp_path: os.PathLike[str], src: str, reason: str) -> None:
    root = _site(tmp_path / "project", {"docs/a.md": b""})  # type: ignore[operator]
    outside = _site(tmp_path / "elsewhere", {"secret.png": PNG})  # type: ignore[operator]
    os.makedirs(os.path.join(root, "docs", "out"))
    os.symlink(os.path.join(outside, "secret.png"), os.path.join(root, "docs", "out", "link.png"))
    r = _resolver(root).resolve(src, os.path.join(root, "docs", "a.md"))
    assert (r.path, r.reason) == (None, reason)


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        pytest.param("data:image/png;base64," + base64.b64encode(PNG).decode(), None, id="base64-png"),
        pytest.param("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'%3E%3Ctitle%3EA cat%3C/title%3E%3C/svg%3E", None, id="percent-svg"),
        pytest.param("data:text/html;base64,PGI+", "the data: URI holds text/html, not an image", id="not-an-image"),
        pytest.param("data:image/png;base64,@@@", "the data: URI is not valid base64", id="bad-base64"),
        pytest.param("data:image/png;base64," + "A" * 400, "the data: URI is over max_image_size (100 bytes)", id="too-large"),
        pytest.param("data:nonsense", "a malformed data: URI", id="malformed"),
    ],
)
def test_data_uris(tmp_path: os.PathLike[str], uri: str, reason: str | None) -> None:
    root = _site(tmp_path, {"a.md": b""})
    r = _resolver(root, max_image_size=100 if "A" * 400 in uri else 20_000_000).resolve(uri, os.path.join(root, "a.md"))
    assert r.reason == reason and (r.path is None) == (reason is not None)
    if r.path:
        assert os.path.dirname(r.path) == os.path.join(root, ".work")


def test_srcset_and_picture_pick_the_largest_raster() -> None:
    assert largest_raster(parse_srcset("a.png 480w, b.png 1200w, c.svg 2000w")) == "b.png"
    assert largest_raster(parse_srcset("a.png, b.png 2x, data:image/png;base64,AA,BB 3x")) == "data:image/png;base64,AA,BB"
    assert largest_raster(parse_srcset("v.svg 2x")) is None
    text = '<picture><source srcset="big.webp 2x" type="image/webp"><source srcset="v.svg" type="image/svg+xml"><img src="small.png"></picture>'
    [finding] = scan_text("a.html", text, Settings())
    assert html_places(text, [finding])[finding.start].sources == ("big.webp", "small.png")


def test_area_region() -> None:
    assert area_region("rect", "10,20,0,5") == (0, 5, 10, 20)
    assert area_region("circle", "5,5,5") == (0, 0, 10, 10)
    assert area_region("poly", "0,0,8,2,4,9") == (0, 0, 8, 9)
    assert area_region("default", "") is None


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, str, bytes, dict[str, str]]] = {}

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        status, kind, body, headers = self.routes.get(self.path, (404, "text/plain", b"no", {}))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def _server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    ("path", "allow", "reason"),
    [
        pytest.param("/a.png", False, "remote image not fetched: 127.0.0.1 resolves to 127.0.0.1, a private or local address (set remote_allow_private to allow it)", id="loopback-refused"),
        pytest.param("/a.png", True, None, id="allowed"),
        pytest.param("/page", True, "remote image not fetched: the server sent text/html, not an image", id="content-type"),
        pytest.param("/big.png", True, "remote image not fetched: the image is 500 bytes, over max_image_size (200)", id="size-cap"),
        pytest.param("/to-file", True, "remote image not fetched: the server answered 302 Found - Redirection to url 'file:///etc/passwd' is not allowed", id="redirect-to-file"),
        pytest.param("/gone.png", True, "remote image not fetched: the server answered 404 Not Found", id="not-found"),
    ],
)
def test_remote_policy(tmp_path: os.PathLike[str], path: str, allow: bool, reason: str | None) -> None:
    _Handler.routes = {
        "/a.png": (200, "image/png", PNG, {}),
        "/page": (200, "text/html", b"<html>", {}),
        "/big.png": (200, "image/png", b"x" * 500, {}),
        "/to-file": (302, "text/plain", b"", {"Location": "file:///etc/passwd"}),
    }
    root = _site(tmp_path, {"a.md": b""})
    with _server() as url:
        r = _resolver(root, fetch_remote=True, remote_allow_private=allow, max_image_size=200, timeout=5.0).resolve(url + path, os.path.join(root, "a.md"))
    assert r.reason == reason
    if reason is None:
        with open(r.path or "", "rb") as f:
            assert f.read() == PNG


def test_fix_refuses_script_and_file_sources_and_describes_the_rest(tmp_path: os.PathLike[str]) -> None:
    from alttext.fixing import commands
    from alttext.config import load_settings
    from tests.conftest import FIXTURES
    from tests.fixing import EchoWriter, FixedCaptioner

    with open(os.path.join(FIXTURES, "site", "img", "meadow.jpg"), "rb") as f:
        jpg = f.read()
    svg = "data:image/svg+xml;base64," + base64.b64encode(b'<svg xmlns="http://www.w3.org/2000/svg"><title>A red dot</title></svg>').decode()
    text = f"![](javascript:alert(1))\n![](file:///etc/passwd)\n![](img/cat.jpg)\n![]({svg})\n[![](img/cat.jpg)](javascript:void(0))\n"
    root = _site(tmp_path, {"a.md": text.encode(), "img/cat.jpg": jpg})
    settings = dataclasses.replace(load_settings({}, cwd=root), backend="openai", writer_model="echo", length=30)

    def fix() -> tuple[int, list[str]]:
        out, err = io.StringIO(), io.StringIO()
        old = os.getcwd()
        os.chdir(root)
        try:
            rc = commands.fix(["a.md"], settings, commands.Mode(), out=out, err=err, captioner=FixedCaptioner(), writer=EchoWriter())
        finally:
            os.chdir(old)
        return rc, out.getvalue().splitlines()

    refused = [
        'a.md:1:1: ALT001 image "javascript:alert(1)" has no alt text (not fixed: a javascript: URL is a script, not an image; refused)',
        'a.md:2:1: ALT001 image "file:///etc/passwd" has no alt text (not fixed: a file: URL names a file on one computer, not in the site; use a path relative to the page)',
    ]
    rc, out = fix()
    assert rc == 1 and out[:2] == refused and len(out) == 5
    with open(os.path.join(root, "a.md"), encoding="utf-8") as f:
        written = f.read()
    lines = written.splitlines()
    assert lines[:2] == ["![](javascript:alert(1))", "![](file:///etc/passwd)"]
    assert not any(line.startswith(("![]", "[![]")) for line in lines[2:]), lines  # the rest described
    assert written.count("javascript:") == text.count("javascript:")
    assert fix() == (1, refused)  # a second run: nothing more to do, no crash
