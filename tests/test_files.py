from __future__ import annotations

import functools
import os
import sys

import pytest

from alttext.model import Settings
from alttext.scan.files import GlobSet, check_paths, discover, in_shard, parse_shard, read_document
from tests.helpers import without_blocking


def _write(path: os.PathLike[str] | str, data: bytes) -> str:
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def test_discovery_skips_hidden_vendored_and_virtualenvs(tmp_path: os.PathLike[str]) -> None:
    root = str(tmp_path)
    for rel in ["a.md", "b.html", "c.htm", "d.xhtml", "e.markdown", "f.mdx", "notes.txt", "img/x.png",
                ".git/x.md", ".hidden/x.md", "node_modules/pkg/x.md", "venv/x.md", "sub/deep/g.md"]:
        _write(os.path.join(root, rel), b"# x\n")
    _write(os.path.join(root, "venv", "pyvenv.cfg"), b"home = /usr\n")
    files, errors = discover([root], Settings(root=root))
    assert [os.path.relpath(f, root) for f in files] == [
        "a.md", "b.html", "c.htm", "d.xhtml", "e.markdown", "f.mdx", "sub/deep/g.md",
    ]
    assert errors == []


def test_include_selects_files_by_name_not_by_directory(tmp_path: os.PathLike[str]) -> None:
    root = str(tmp_path)
    for rel in ["notes.md/photo.png", "notes.md/real.md", "docs/keep.njk", "docs/skip.njk"]:
        _write(os.path.join(root, rel), b"x")
    files, _ = discover([root], Settings(root=root))
    assert [os.path.relpath(f, root) for f in files] == ["notes.md/real.md"]
    files, _ = discover([root], Settings(root=root, include=("*.md", "docs/keep.njk")))
    assert sorted(os.path.relpath(f, root) for f in files) == ["docs/keep.njk", "notes.md/real.md"]


EXCLUDES = [
    pytest.param(["drafts"], ["docs/a.md", "docs/b.html"], id="name-anywhere"),
    pytest.param(["docs/drafts/"], ["docs/a.md", "docs/b.html"], id="anchored-dir"),
    pytest.param(["*.html"], ["docs/a.md", "docs/drafts/x.md"], id="suffix"),
    pytest.param(["docs/**/x.md"], ["docs/a.md", "docs/b.html"], id="double-star"),
    pytest.param(["/docs/a.md"], ["docs/b.html", "docs/drafts/x.md"], id="leading-slash-anchored"),
]


@pytest.mark.parametrize(("exclude", "expected"), EXCLUDES)
def test_exclude(tmp_path: os.PathLike[str], exclude: list[str], expected: list[str]) -> None:
    root = str(tmp_path)
    for rel in ["docs/a.md", "docs/b.html", "docs/drafts/x.md"]:
        _write(os.path.join(root, rel), b"x")
    files, _ = discover([os.path.join(root, "docs")], Settings(root=root, exclude=tuple(exclude)))
    assert sorted(os.path.relpath(f, root) for f in files) == expected


def test_explicit_files_are_checked_unless_excluded(tmp_path: os.PathLike[str]) -> None:
    root = str(tmp_path)
    page = _write(os.path.join(root, "page.njk"), b"<img src=a.png>")
    skipped = _write(os.path.join(root, "vendor", "x.md"), b"![](a.png)")
    files, _ = discover([page, skipped], Settings(root=root, exclude=("vendor",)))
    assert files == [page]


def test_globset() -> None:
    g = GlobSet(["*.min.html", "build/", "a/[bc]?.md", "x/[!y].md"])
    assert g.match("site/page.min.html") and g.match("build/x.md") and g.match("a/b1.md")
    assert g.match("x/z.md") and not g.match("x/y.md") and not g.match("a/d1.md") and not g.match("page.html")
    assert not GlobSet([]) and GlobSet(["x"])


BAD_INPUT = [
    pytest.param(b"caf\xe9 ![](a.png)", "x.md", "x.md: not valid UTF-8 (byte 0xe9 at offset 3); convert it to UTF-8", id="latin-1"),
    pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00", "x.html", "x.html: looks like a binary file (contains NUL bytes), not HTML", id="binary-html"),
    pytest.param(b"\xff\xfe<\x00i\x00", "x.md", "x.md: UTF-16 text, not UTF-8; convert it to UTF-8", id="utf-16"),
    pytest.param("\ufeff<img src=a.png>\n".encode("utf-16-be"), "x.html", "x.html: UTF-16 text, not UTF-8; convert it to UTF-8", id="utf-16-be"),
    pytest.param("\ufeff![](a.png)\n".encode("utf-32-le"), "x.md", "x.md: UTF-32 text, not UTF-8; convert it to UTF-8", id="utf-32"),
    pytest.param("\ufeff图片说明".encode("utf-16-le"), "x.md", "x.md: UTF-16 text, not UTF-8; convert it to UTF-8", id="utf-16-chinese-no-nul"),
    pytest.param(b"\xff\xfe\x00\xd8", "x.md", "x.md: looks like a binary file (contains NUL bytes), not Markdown", id="bom-then-not-utf-16"),
]


@pytest.mark.parametrize(("data", "name", "message"), BAD_INPUT)
def test_bad_input_is_one_clear_line(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, data: bytes, name: str, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    _write(os.path.join(str(tmp_path), name), data)
    _write(os.path.join(str(tmp_path), "good.md"), b"![](a.png)\n")
    report = check_paths(["."], Settings())
    assert [e.message for e in report.errors] == [message]
    assert [f.path for f in report.findings] == ["good.md"]


def test_links(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    os.symlink("missing.md", "broken.md")
    os.symlink("loop2.md", "loop1.md")
    os.symlink("loop1.md", "loop2.md")
    os.mkdir("dir")
    os.symlink("..", "dir/up")  # a directory link is never followed, so no loop
    _write("real.md", b"![](a.png)")
    os.symlink("real.md", "link.md")
    report = check_paths(["."], Settings())
    assert sorted(e.message for e in report.errors) == [
        "broken.md: broken symbolic link",
        "loop1.md: symbolic link loop",
        "loop2.md: symbolic link loop",
    ]
    assert sorted(f.path for f in report.findings) == ["link.md", "real.md"]


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write("secret.md", b"x")
    os.chmod("secret.md", 0)
    assert [e.message for e in check_paths(["."], Settings()).errors] == ["secret.md: cannot read: Permission denied"]


def test_unreadable_as_root_via_directory(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # Works for root too: a directory given a file's name cannot be read as one.
    monkeypatch.chdir(tmp_path)
    os.mkdir("page.md")
    assert discover(["page.md"], Settings())[0] == []  # a directory argument is walked instead
    text, error = read_document(".", Settings())
    assert text is None and error is not None and error.message == ".: not a regular file"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_page_is_refused_not_waited_on(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    os.mkfifo("pipe.md")
    for paths in (["pipe.md"], ["."]):  # named, and found by walking
        report = without_blocking("pipe.md", functools.partial(check_paths, paths, Settings()))
        assert [e.message for e in report.errors] == ["pipe.md: not a regular file"]


def test_missing_path(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert [e.message for e in check_paths(["nope.md"], Settings()).errors] == ["nope.md: no such file or directory"]


def test_empty_file_bom_and_size_limit(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write("empty.md", b"")
    _write("bom.md", b"\xef\xbb\xbf![](a.png)\r\n")
    _write("big.html", b"<p>" + b"x" * 2000 + b"<img src=a.png>")
    report = check_paths(["."], Settings(max_file_size=1000))
    assert [(f.path, f.line, f.column) for f in report.findings] == [("bom.md", 1, 1)]
    assert [e.message for e in report.errors] == ["big.html: 2018 bytes is over max_file_size (1000 bytes); skipped"]


def test_fifty_megabytes_is_reported_not_read(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open("huge.md", "wb") as f:
        f.truncate(50 * 1024 * 1024)  # sparse: no disk or memory used
    report = check_paths(["huge.md"], Settings())
    assert [e.message for e in report.errors] == [
        "huge.md: 52428800 bytes is over max_file_size (20971520 bytes); skipped"
    ]


def test_parallel_equals_serial(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for i in range(150):
        _write(f"d/{i:03}.md", f"# {i}\n\n" .encode() + (b"![](x.png)\n" if i % 3 else b"text\n"))
    _write("d/bad.md", b"\xff")
    serial = check_paths(["d"], Settings(jobs=1))
    parallel = check_paths(["d"], Settings(jobs=2))
    assert serial == parallel and len(serial.findings) == 100 and len(serial.errors) == 1


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_every_file_is_in_exactly_one_shard(n: int) -> None:
    paths = [f"docs/section-{k // 10}/post-{k}.md" for k in range(200)] + ["index.html", "a b/ü.md"]
    owners = {p: [k for k in range(1, n + 1) if in_shard(p, (k, n), ".")] for p in paths}
    assert all(len(found) == 1 for found in owners.values())
    if n > 1:  # and the split is roughly even
        sizes = [sum(found == [k] for found in owners.values()) for k in range(1, n + 1)]
        assert min(sizes) > len(paths) / n / 2


def test_shard_depends_on_the_path_from_the_root_only(tmp_path: os.PathLike[str]) -> None:
    root = str(tmp_path)
    here = [k for k in range(1, 5) if in_shard(os.path.join(root, "docs", "a.md"), (k, 4), root)]
    there = [k for k in range(1, 5) if in_shard("docs/a.md", (k, 4), ".")]
    assert here == there


@pytest.mark.parametrize("text", ["0/3", "4/3", "1", "a/b", "1/0", "-1/2", ""])
def test_bad_shard_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"--shard expects K/N with 1 <= K <= N, such as 1/4, not "):
        parse_shard(text)


def test_good_shard_is_parsed() -> None:
    assert parse_shard("2/4") == (2, 4)
    assert parse_shard("1/1") == (1, 1)
