"""``alttext review``: the server's API and its security, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import re
import os
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("PIL")

from PIL import Image  # noqa: E402

from alttext.cli import main  # noqa: E402
from alttext.config import load_settings  # noqa: E402
from alttext.fixing.review_server import Review, Server  # noqa: E402

PAGE_MD = b"# Hi\n\n![](img/red.png)\n\nText ![](img/blue.png)\n"
PAGE_HTML = b'<p><img src="img/red.png"></p>\n<p><img src="img/blue.png"></p>\n'


@pytest.fixture
def site(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """A small site and its report from ``fix --report`` (no models: every entry needs review)."""
    root = os.path.join(str(tmp_path), "site")
    os.makedirs(os.path.join(root, "img"))
    Image.new("RGB", (900, 600), (200, 30, 30)).save(os.path.join(root, "img", "red.png"))
    Image.new("RGB", (40, 40), (20, 30, 200)).save(os.path.join(root, "img", "blue.png"))
    with open(os.path.join(root, "page.md"), "wb") as f:
        f.write(PAGE_MD)
    with open(os.path.join(root, "page.html"), "wb") as f:
        f.write(PAGE_HTML)
    monkeypatch.chdir(root)
    assert main(["fix", ".", "--backend", "none", "--captioner", "none", "--ocr", "off", "--report", "report.json"]) == 1
    capsys.readouterr()
    return root


@pytest.fixture
def server(site: str) -> Iterator[Server]:
    running = Server(Review("report.json", load_settings({})))
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.shutdown()
        running.server_close()


def request(server: Server, path: str, body: Any = None, token: str | None = "", headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    sent = {"X-Alttext-Token": server.token if token == "" else token} if token is not None else {}
    sent.update(headers or {})
    data = None if body is None else json.dumps(body).encode()
    url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=sent, method="POST" if data else "GET")) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def entries() -> list[dict[str, Any]]:
    with open("report.json", encoding="utf-8") as f:
        return json.load(f)["entries"]


def index_of(path: str, src: str) -> int:
    return next(k for k, e in enumerate(entries()) if e["path"] == path and e["src"] == src)


@pytest.mark.parametrize("path", ["/", "/review.js", "/api/entries", "/image/0"])
def test_a_request_without_the_token_is_refused(server: Server, path: str) -> None:
    assert request(server, path, token=None)[0] == 403
    assert request(server, path, token="not-the-token")[0] == 403
    assert request(server, path + ("&" if "?" in path else "?") + "token=" + server.token, token=None)[0] == 200


def test_a_foreign_host_name_is_refused(server: Server) -> None:
    # A page on another site that resolved its own name to 127.0.0.1 (DNS rebinding) sends its
    # own name as Host; even with the token it gets nothing.
    assert request(server, "/api/entries", headers={"Host": "attacker.example"})[0] == 403
    assert request(server, "/api/entries", headers={"Host": f"localhost:{server.server_address[1]}"})[0] == 200


def test_the_page_is_served_with_a_policy_that_loads_nothing_from_elsewhere(server: Server) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}/?token={server.token}"
    with urllib.request.urlopen(url) as r:
        policy = r.headers["Content-Security-Policy"]
        page = r.read().decode()
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "http" not in page.replace("http-equiv", "")  # no CDN, no outside link


@pytest.mark.parametrize("image", ["../outside.png", "/etc/hostname", "img/../../outside.png", "img/missing.png", "page.md/../../outside.png"])
def test_pictures_outside_the_project_are_refused(site: str, image: str) -> None:
    Image.new("RGB", (8, 8)).save(os.path.join(os.path.dirname(site), "outside.png"))
    data = json.loads(open("report.json", encoding="utf-8").read())
    data["entries"][0]["image"] = image
    with open("report.json", "w", encoding="utf-8") as f:
        json.dump(data, f)
    running = Server(Review("report.json", load_settings({})))
    threading.Thread(target=running.serve_forever, daemon=True).start()
    try:
        status, _ = request(running, "/image/0")
        assert status == 404
        assert request(running, "/image/1")[0] == 200
        assert request(running, "/image/99")[0] == 404
    finally:
        running.shutdown()
        running.server_close()


def test_the_picture_is_a_shrunk_thumbnail(server: Server) -> None:
    status, body = request(server, f"/image/{index_of('page.md', 'img/red.png')}")
    assert status == 200 and body.startswith(b"\x89PNG")
    with Image.open(__import__("io").BytesIO(body)) as thumb:
        assert max(thumb.size) == 480


def test_the_server_listens_on_loopback_only(server: Server) -> None:
    port = server.server_address[1]
    assert server.server_address[0] == "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outward address
            address = probe.getsockname()[0]
        except OSError:
            address = "127.0.0.1"
    if address.startswith("127."):
        pytest.skip("this machine has no address but loopback")
    with pytest.raises(OSError):
        socket.create_connection((address, port), timeout=2).close()


def test_each_decision_is_saved_to_the_report_at_once(server: Server) -> None:
    red, blue = index_of("page.md", "img/red.png"), index_of("page.html", "img/blue.png")
    status, body = request(server, f"/api/entries/{red}", {"review": "accepted", "alt": "A red rectangle."})
    assert status == 200 and json.loads(body)["review"] == "accepted"
    assert entries()[red]["alt"] == "A red rectangle." and entries()[red]["review"] == "accepted"
    assert request(server, f"/api/entries/{blue}", {"review": "decorative"})[0] == 200
    assert entries()[blue]["review"] == "decorative"
    # Undecided again.
    assert request(server, f"/api/entries/{blue}", {"review": ""})[0] == 200
    assert "review" not in entries()[blue]
    # What the model or a person typed is stored as alttext writes it, in one form.
    assert request(server, f"/api/entries/{red}", {"review": "accepted", "alt": "A {{ red }} box\u202e."})[0] == 200
    assert entries()[red]["alt"] == "A red box."
    assert request(server, f"/api/entries/{red}", {"review": "maybe"})[0] == 400
    assert request(server, f"/api/entries/{red}", {"review": "accepted", "alt": 5})[0] == 400
    assert request(server, "/api/entries/99", {"review": "accepted"})[0] == 400
    assert not [n for n in os.listdir(".") if n.endswith(".alttext")]  # no temporary file left behind


def test_a_report_changed_on_disk_is_never_overwritten(server: Server) -> None:
    assert request(server, "/api/entries/0", {"review": "accepted"})[0] == 200
    with open("report.json", encoding="utf-8") as f:
        edited = f.read().replace('"review": "accepted"', '"review": "skipped"')
    with open("report.json", "w", encoding="utf-8") as f:
        f.write(edited)  # someone else's edit, made while the page is open
    status, body = request(server, "/api/entries/1", {"review": "decorative"})
    assert status == 409 and json.loads(body)["error"] == "report.json changed on disk since it was read; nothing saved (run alttext review again)"
    assert open("report.json", encoding="utf-8").read() == edited
    os.chmod("report.json", 0o444)
    try:
        other = Server(Review("report.json", load_settings({})))
        threading.Thread(target=other.serve_forever, daemon=True).start()
        status, body = request(other, "/api/entries/1", {"review": "decorative"})
        assert status == 409 and json.loads(body)["error"] == "report.json: not saved: it is read-only"
        other.shutdown()
        other.server_close()
    finally:
        os.chmod("report.json", 0o644)
    assert open("report.json", encoding="utf-8").read() == edited


def test_apply_writes_only_the_accepted_and_decorative_entries_byte_exact(server: Server) -> None:
    decisions = {("page.md", "img/red.png"): ("accepted", "A red rectangle."), ("page.md", "img/blue.png"): ("skipped", None),
                 ("page.html", "img/red.png"): ("decorative", None)}
    for (path, src), (review, alt) in decisions.items():
        body = {"review": review} if alt is None else {"review": review, "alt": alt}
        assert request(server, f"/api/entries/{index_of(path, src)}", body)[0] == 200
    status, body = request(server, "/api/apply", {})
    result = json.loads(body)
    assert status == 200 and result["rc"] == 0, result
    assert "page.html:1:4: img/red.png: marked decorative" in result["lines"]
    with open("page.md", "rb") as f:
        assert f.read() == PAGE_MD.replace(b"![](img/red.png)", b"![A red rectangle.](img/red.png)")
    with open("page.html", "rb") as f:
        assert f.read() == PAGE_HTML.replace(b'<img src="img/red.png">', b'<img src="img/red.png" alt="">')


def test_review_needs_a_json_report(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["review", "report.csv", "--no-browser"]) == 2
    assert capsys.readouterr().err == "alttext: error: report.csv: review reads a .json report (alttext fix --report FILE.json)\n"
    assert main(["review", "missing.json", "--no-browser"]) == 2
    assert capsys.readouterr().err == "missing.json: not an alttext report: No such file or directory\n"


def test_each_place_links_to_the_editor_where_a_scheme_is_given(site: str) -> None:
    review = Review("report.json", load_settings({}), editor="vscode://file/{path}:{line}:{column}")
    [first, *_] = review.entries()
    assert first["editor"] == f"vscode://file/{os.path.join(os.path.realpath(site), first['path'])}:{first['line']}:{first['column']}"
    assert "editor" not in Review("report.json", load_settings({})).entries()[0]


def test_the_export_holds_everything_and_loads_nothing(site: str, tmp_path: os.PathLike[str], capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(open("report.json", encoding="utf-8").read())
    data["entries"][0]["alt"] = "</script><script>window.pwned = 1</script>"
    with open("report.json", "w", encoding="utf-8") as f:
        json.dump(data, f)
    out = os.path.join(str(tmp_path), "review.html")
    assert main(["review", "report.json", "--export", out]) == 0
    assert capsys.readouterr().err == f"alttext: 4 entries written to {out}: open it in a browser; its button downloads the reviewed report for alttext apply\n"
    page = open(out, encoding="utf-8").read()
    assert page.count("<script") == 2 and page.count("</script>") == 2  # the data block and the page's script: the text cannot end either
    assert "src=\"http" not in page and "href=\"http" not in page and "review.js" not in page and "review.css" not in page
    assert page.count("data:image/png;base64,") == 4
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert policy.startswith("default-src 'none'; script-src 'sha256-") and "img-src data:" in policy and "connect-src" not in policy


def test_only_pictures_are_served_or_exported_whatever_a_page_points_at(site: str, tmp_path: os.PathLike[str],
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    # A page may point an image at any file of the project; a secret is not a picture.
    with open(".env", "w", encoding="utf-8") as f:
        f.write("SECRET_KEY=hunter2\n")
    with open("evil.html", "w", encoding="utf-8") as f:
        f.write("<script>alert(1)</script>\n")
    with open("logo.svg", "w", encoding="utf-8") as f:
        f.write('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>\n')
    data = json.loads(open("report.json", encoding="utf-8").read())
    for entry, image in zip(data["entries"], [".env", "evil.html", "logo.svg", "img/red.png"]):
        entry["image"] = image
    with open("report.json", "w", encoding="utf-8") as f:
        json.dump(data, f)
    running = Server(Review("report.json", load_settings({})))
    threading.Thread(target=running.serve_forever, daemon=True).start()
    try:
        assert [request(running, f"/image/{k}")[0] for k in range(4)] == [404, 404, 200, 200]
        assert [e["has_image"] for e in json.loads(request(running, "/api/entries")[1])["entries"]] == [False, False, True, True]
    finally:
        running.shutdown()
        running.server_close()
    out = os.path.join(str(tmp_path), "review.html")
    assert main(["review", "report.json", "--export", out]) == 0
    page = open(out, encoding="utf-8").read()
    assert "U0VDUkVU" not in page and "hunter2" not in page  # base64 and plain
    assert page.count("data:image/svg+xml;base64,") == 1 and page.count("data:image/png;base64,") == 1


def test_a_report_cannot_choose_the_pages_links_or_pictures(site: str) -> None:
    data = json.loads(open("report.json", encoding="utf-8").read())
    data["entries"][0].update(editor="javascript:alert(document.domain)", picture="https://tracker.example/p.png", index=7, has_image=True)
    data["entries"][1]["image"] = "img/missing.png"
    data["entries"][1]["has_image"] = True
    with open("report.json", "w", encoding="utf-8") as f:
        json.dump(data, f)
    shown = Review("report.json", load_settings({})).entries()
    assert "editor" not in shown[0] and "picture" not in shown[0] and shown[0]["index"] == 0
    assert shown[1]["has_image"] is False


def test_a_decision_must_be_named(server: Server) -> None:
    assert request(server, "/api/entries/0", {"review": "accepted"})[0] == 200
    status, body = request(server, "/api/entries/0", {"alt": "Only a text."})
    assert status == 400 and json.loads(body)["error"] == "a decision needs its review field (accepted, decorative, skipped, or empty to undo)"
    assert entries()[0]["review"] == "accepted"


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        pytest.param(["--port", "70000"], "alttext: error: argument --port: '70000' is not a port (0 to 65535)", id="port"),
        pytest.param(["--editor-url", "idea://open?file={file}"],
                     "alttext: error: --editor-url 'idea://open?file={file}' is not a link template: use {path}, {line} and {column}",
                     id="editor-url"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(site: str, argv: list[str], error: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        rc = main(["review", "report.json", "--no-browser", *argv])
    except SystemExit as exc:  # argparse's own errors
        rc = exc.code
    assert rc == 2
    assert capsys.readouterr().err.splitlines()[-1] == error


def test_a_report_with_an_impossible_offset_is_one_line(site: str, capsys: pytest.CaptureFixture[str]) -> None:
    with open("report.json", encoding="utf-8") as f:
        text = f.read().replace('"start": ', '"start": 1e999, "was": ', 1)
    with open("report.json", "w", encoding="utf-8") as f:
        f.write(text)
    assert main(["review", "report.json", "--no-browser"]) == 2
    assert capsys.readouterr().err == "report.json: not an alttext report: cannot convert float infinity to integer\n"


def test_the_browser_is_opened_through_a_private_redirect(monkeypatch: pytest.MonkeyPatch) -> None:
    import stat
    import webbrowser

    from alttext.subcommands.review import _open_privately

    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", opened.append)
    path = _open_privately("http://127.0.0.1:1/?token=secret")
    try:
        assert opened == ["file://" + path] and "secret" not in opened[0]
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert 'content="0;url=http://127.0.0.1:1/?token=secret"' in open(path, encoding="utf-8").read()
    finally:
        os.unlink(path)
