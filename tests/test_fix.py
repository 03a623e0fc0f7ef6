"""The fix and apply contract: exit codes, exact messages, bytes kept, nothing forced."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import json
import os
import shutil
import stat
import subprocess
from typing import Any

import pytest

from alttext.fixing import commands
from alttext.config import load_settings
from tests.conftest import FIXTURES
from tests.fixing import EchoWriter, FixedCaptioner

IMG = os.path.join(FIXTURES, "site", "img")


def _run(root: str, *paths: str, mode: commands.Mode = commands.Mode(), report: str | None = None,
         shard: tuple[int, int] | None = None, **changes: Any) -> tuple[int, str, str, FixedCaptioner]:
    # A 30-character target: the echoed caption is within the length budget, so no review note.
    settings = dataclasses.replace(load_settings({}, cwd=root), backend="openai", writer_model="echo", length=30, **changes)
    captioner = FixedCaptioner()
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(root)
    try:
        rc = commands.fix(list(paths), settings, mode, report=report, out=out, err=err, shard=shard, captioner=captioner, writer=EchoWriter())
    finally:
        os.chdir(old)
    return rc, out.getvalue(), err.getvalue(), captioner


@pytest.fixture
def site(tmp_path: os.PathLike[str]) -> str:
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "img"))
    shutil.copy(os.path.join(IMG, "meadow.jpg"), os.path.join(root, "img", "cat.jpg"))
    return root


def _write(root: str, name: str, data: bytes) -> str:
    with open(os.path.join(root, name), "wb") as f:
        f.write(data)
    return os.path.join(root, name)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def test_nothing_to_do(site: str) -> None:
    _write(site, "a.md", b"![A cat.](img/cat.jpg)\n")
    assert _run(site, "a.md")[:3] == (0, "", "")
    assert _run(site)[:3] == (0, "", "")


def test_fix_then_second_run(site: str) -> None:
    path = _write(site, "a.md", b"\xef\xbb\xbf# Cats\r\n\r\n![](img/cat.jpg)\r\n")
    os.chmod(path, 0o640)
    rc, out, err, _ = _run(site, "a.md")
    assert rc == 1
    assert out == 'a.md:3:1: alt text added for img/cat.jpg: "A dog running on the grass."\n'
    assert err == "Rewriting a.md\nalttext: 1 image fixed in 1 file, 0 left\n"
    assert _read(path) == b"\xef\xbb\xbf# Cats\r\n\r\n![A dog running on the grass.](img/cat.jpg)\r\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert _run(site, "a.md")[:3] == (0, "", "")
    assert not [n for n in os.listdir(site) if n.endswith(".alttext")]  # no temporary file left


def test_one_image_many_places_is_captioned_once(site: str) -> None:
    _write(site, "a.md", b"# One\n\n![](img/cat.jpg)\n\n# Two\n\n![](img/cat.jpg)\n")
    _write(site, "b.html", b'<h1>Three</h1><p><img src="img/cat.jpg"></p>')
    rc, _, _, captioner = _run(site)
    assert rc == 1 and captioner.images == 1


@pytest.mark.parametrize(
    ("mode", "stdout_starts", "stderr"),
    [
        pytest.param(commands.Mode(diff=True), "--- a/a.md\n+++ b/a.md\n@@ -1 +1 @@\n-![](img/cat.jpg)\n+![A dog running on the grass.](img/cat.jpg)\n",
                     'Would rewrite a.md\na.md:1:1: proposed alt text for img/cat.jpg: "A dog running on the grass."\nalttext: would fix 1 image in 1 file, 0 left\n', id="diff"),
        pytest.param(commands.Mode(dry_run=True), 'a.md:1:1: proposed alt text for img/cat.jpg: "A dog running on the grass."\n',
                     "Would rewrite a.md\nalttext: would fix 1 image in 1 file, 0 left\n", id="dry-run"),
    ],
)
def test_diff_and_dry_run_write_nothing(site: str, mode: commands.Mode, stdout_starts: str, stderr: str) -> None:
    path = _write(site, "a.md", b"![](img/cat.jpg)\n")
    rc, out, err, _ = _run(site, "a.md", mode=mode)
    assert (rc, out, err) == (1, stdout_starts, stderr)
    assert _read(path) == b"![](img/cat.jpg)\n"


def test_exit_zero_even_if_changed(site: str) -> None:
    _write(site, "a.md", b"![](img/cat.jpg)\n")
    assert _run(site, "a.md", mode=commands.Mode(exit_zero_even_if_changed=True, quiet=True))[0] == 0


def test_unfixable_stays_a_finding_and_the_rest_is_fixed(site: str) -> None:
    path = _write(site, "a.md", b"![](img/missing.png) ![](img/cat.jpg) ![](../../etc/passwd)\n")
    rc, out, _, _ = _run(site, "a.md", mode=commands.Mode(exit_zero_even_if_changed=True))
    assert rc == 1  # findings are left
    assert out.splitlines() == [
        'a.md:1:1: ALT001 image "img/missing.png" has no alt text (not fixed: image not found (looked for img/missing.png))',
        'a.md:1:22: alt text added for img/cat.jpg: "A dog running on the grass."',
        'a.md:1:39: ALT001 image "../../etc/passwd" has no alt text (not fixed: the src resolves outside the project root; refused)',
    ]
    assert _read(path) == b"![](img/missing.png) ![A dog running on the grass.](img/cat.jpg) ![](../../etc/passwd)\n"


def test_images_with_nothing_to_describe_are_reported(site: str) -> None:
    _write(site, "a.html", b'<img class="x">\n<map name="m"><area href="/n" coords="0,0,9,9"></map>\n')
    rc, out, _, _ = _run(site, "a.html")
    assert rc == 1 and out.splitlines() == [
        'a.html:1:1: ALT001 image "" has no alt text (not fixed: the image has no src)',
        'a.html:2:15: ALT001 image map area "/n" has no alt text (not fixed: no <img usemap> uses this area\'s map)',
    ]


def test_file_changed_while_describing_is_not_written(site: str) -> None:
    path = _write(site, "a.md", b"![](img/cat.jpg)\n")

    class Editor(EchoWriter):
        def write(self, conversations: Any, seeds: Any) -> list[str]:
            _write(site, "a.md", b"Someone typed this.\n![](img/cat.jpg)\n")
            return super().write(conversations, seeds)

    settings = dataclasses.replace(load_settings({}, cwd=site), backend="openai", writer_model="echo", length=30)
    out, err = io.StringIO(), io.StringIO()
    rc = commands.fix([path], settings, commands.Mode(), out=out, err=err, captioner=FixedCaptioner(), writer=Editor())
    assert rc == 2
    assert err.getvalue().startswith(f"{path}: changed on disk since it was read; not written (run again)\n")
    assert _read(path) == b"Someone typed this.\n![](img/cat.jpg)\n"


def test_bad_files_are_reported_and_the_rest_fixed(site: str) -> None:
    _write(site, "bad.md", b"\xff![](img/cat.jpg)\n")
    good = _write(site, "good.md", b"![](img/cat.jpg)\n")
    rc, _, err, _ = _run(site)
    assert rc == 2 and "bad.md: not valid UTF-8 (byte 0xff at offset 0); convert it to UTF-8\n" in err
    assert _read(good).startswith(b"![A dog")


def test_report_then_apply(site: str) -> None:
    path = _write(site, "a.md", b"![](img/cat.jpg)\n\n![](img/cat.jpg \"Cat\")\n")
    rc, _, err, _ = _run(site, report="review.json")
    assert rc == 1 and err == "alttext: 2 entries written to review.json; no source file changed\n"
    assert _read(path) == b"![](img/cat.jpg)\n\n![](img/cat.jpg \"Cat\")\n"
    report_path = os.path.join(site, "review.json")
    with open(report_path, encoding="utf-8") as f:
        report = json.load(f)
    first, second = report["entries"]
    assert (first["path"], first["line"], first["src"], first["image"], first["alt"], first["caption"]) == (
        "a.md", 1, "img/cat.jpg", "img/cat.jpg", "A dog running on the grass.", "a dog running on the grass")
    # A person reviews: edits one, removes the other's proposal.
    first["alt"], second["alt"] = 'A grey cat asleep on a "rug".', ""
    with open(report_path, "w", encoding="utf-8") as f:
        json.dump(report, f)
    out, err = io.StringIO(), io.StringIO()
    settings = load_settings({}, cwd=site)
    old = os.getcwd()
    os.chdir(site)
    try:
        rc = commands.apply("review.json", settings, commands.Mode(), out=out, err=err)
    finally:
        os.chdir(old)
    assert rc == 1 and _read(path) == b'![A grey cat asleep on a "rug".](img/cat.jpg)\n\n![](img/cat.jpg "Cat")\n'
    # Applied again: the place no longer matches, so it is skipped, never forced.
    os.chdir(site)
    try:
        err = io.StringIO()
        assert commands.apply("review.json", settings, commands.Mode(), out=io.StringIO(), err=err) == 1
    finally:
        os.chdir(old)
    assert err.getvalue() == ("a.md:1:1: skipped: the file no longer has this image there without alt text\n"
                              "alttext: 1 image in 1 file still lacks alt text\n")


@pytest.mark.parametrize("name", ["review.csv", "review.md"])
def test_other_report_formats(site: str, name: str) -> None:
    _write(site, "a.md", b"![](img/cat.jpg)\n")
    assert _run(site, report=name)[0] == 1
    with open(os.path.join(site, name), encoding="utf-8") as f:
        text = f.read()
    assert "A dog running on the grass." in text and "img/cat.jpg" in text


def test_unknown_report_format_is_a_usage_error(site: str) -> None:
    assert _run(site, report="review.txt")[:3] == (2, "", "alttext: error: review.txt: unknown report format; use .json, .csv or .md\n")


def test_fixture_site_round_trips(tmp_path: os.PathLike[str]) -> None:
    """fix then check exits 0, and git diff shows only alt insertions."""
    root = os.path.join(str(tmp_path), "site")
    shutil.copytree(os.path.join(FIXTURES, "site"), root)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "site"], cwd=root, check=True)
    assert _run(root)[0] == 1
    from alttext.cli import main

    old = os.getcwd()
    os.chdir(root)
    try:
        assert main(["check", ".", "--quiet"]) == 0
    finally:
        os.chdir(old)
    diff = subprocess.run(["git", "diff", "-U0"], cwd=root, check=True, capture_output=True, text=True).stdout
    removed = [line[1:] for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]

    def without_alt(line: str) -> str:
        return re.sub(r' alt="[^"]*"', "", re.sub(r"!\[(?:[^\]\\]|\\.)*\]", "![]", line))

    assert len(added) == len(removed) == 13
    assert [without_alt(a) for a in added] == [without_alt(r) for r in removed]


def test_cli_fix_with_the_none_backend(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    from alttext.cli import main
    from tests.models import tiny_blip

    blip = tiny_blip(os.path.join(str(tmp_path), "blip"))
    monkeypatch.chdir(tmp_path)
    shutil.copy(os.path.join(IMG, "meadow.jpg"), "cat.jpg")
    _write(str(tmp_path), "a.md", b"![](cat.jpg)\n")
    assert main(["fix", "a.md", "--backend", "none", "--captioner", blip, "--device", "cpu"]) == 1
    assert "Rewriting a.md\n" in capsys.readouterr().err
    assert main(["fix", "a.md", "--backend", "none", "--captioner", blip, "--device", "cpu"]) == 0
    assert main(["check", "a.md"]) == 0


def test_shards_split_the_files_and_together_fix_them_all(site: str) -> None:
    names = [f"p{k}.md" for k in range(12)]
    for name in names:
        _write(site, name, b"![](img/cat.jpg)\n")
    done: list[str] = []
    for k in (1, 2, 3):
        rc, out, err, _ = _run(site, ".", shard=(k, 3))
        fixed = sorted(line.split(":")[0] for line in out.splitlines())
        assert fixed and not set(fixed) & set(done)
        done += fixed
    assert sorted(done) == sorted(names)
    assert all(_read(os.path.join(site, n)) == b"![A dog running on the grass.](img/cat.jpg)\n" for n in names)


def test_bad_shard_is_a_usage_error(site: str, capsys: pytest.CaptureFixture[str]) -> None:
    from alttext.cli import main

    with pytest.raises(SystemExit) as info:
        main(["fix", "--shard", "4/3", site])
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == "alttext: error: argument --shard: --shard expects K/N with 1 <= K <= N, such as 1/4, not '4/3'"


# --- Hardening (#24): where fix and apply may write, and what they print ----------------------


def _outside(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = str(tmp_path_factory.mktemp("outside"))
    shutil.copy(os.path.join(IMG, "meadow.jpg"), os.path.join(folder, "cat.jpg"))
    return _write(folder, "page.md", b"![](cat.jpg)\n")


def test_a_page_linked_from_outside_the_project_is_not_written(site: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    target = _outside(tmp_path_factory)
    _write(os.path.dirname(target), "page.md", b"![](../img/cat.jpg)\n")  # the picture as the site serves it
    os.makedirs(os.path.join(site, "docs"))
    os.symlink(target, os.path.join(site, "docs", "linked.md"))
    _write(site, "a.md", b"![](img/cat.jpg)\n")
    rc, out, err, captioner = _run(site)
    assert rc == 1 and _read(target) == b"![](../img/cat.jpg)\n"
    assert f"docs/linked.md: not written: it resolves to {os.path.realpath(target)}, outside the project (--follow-symlinks writes through links)\n" in err
    assert "docs/linked.md:1:1: ALT001" in out and captioner.images == 1  # only a.md's picture was described
    assert _read(os.path.join(site, "a.md")).startswith(b"![A dog")
    # Asked for: written through the link.
    assert _run(site, follow_symlinks=True)[0] == 1 and _read(target).startswith(b"![A dog")


def test_a_page_swapped_for_a_link_while_describing_is_not_written_through(site: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    target = _outside(tmp_path_factory)
    with open(target, "wb") as f:
        f.write(b"![](img/cat.jpg)\n")  # the very bytes fix read, so only the link check can stop it
    path = _write(site, "a.md", b"![](img/cat.jpg)\n")

    class Swapper(EchoWriter):
        def write(self, conversations: Any, seeds: Any) -> list[str]:
            os.unlink(path)
            os.symlink(target, path)
            return super().write(conversations, seeds)

    settings = dataclasses.replace(load_settings({}, cwd=site), backend="openai", writer_model="echo", length=30)
    err = io.StringIO()
    old = os.getcwd()
    os.chdir(site)
    try:
        rc = commands.fix(["."], settings, commands.Mode(), out=io.StringIO(), err=err, captioner=FixedCaptioner(), writer=Swapper())
    finally:
        os.chdir(old)
    assert rc == 1 and _read(target) == b"![](img/cat.jpg)\n"
    assert "a.md: not written: it resolves to" in err.getvalue()


def test_a_read_only_page_is_not_rewritten(site: str) -> None:
    path = _write(site, "a.md", b"![](img/cat.jpg)\n")
    os.chmod(path, 0o444)
    rc, out, err, _ = _run(site, "a.md")
    assert rc == 1 and _read(path) == b"![](img/cat.jpg)\n" and stat.S_IMODE(os.stat(path).st_mode) == 0o444
    assert err.startswith("a.md: not written: it is read-only\n")
    assert out == "a.md:1:1: ALT001 image \"img/cat.jpg\" has no alt text (not fixed: it is read-only)\n"


@pytest.mark.parametrize("where", ["absolute", "dotdot"])
def test_apply_of_a_tampered_report_writes_nothing_outside(site: str, tmp_path_factory: pytest.TempPathFactory, where: str) -> None:
    target = _outside(tmp_path_factory)
    path = target if where == "absolute" else os.path.relpath(target, site)
    entry = {"path": path, "line": 1, "column": 1, "start": 0, "end": 12, "original": "![](cat.jpg)", "alt": "Pwned", "rule": "ALT001"}
    _write(site, "review.json", json.dumps({"schema_version": 1, "entries": [entry]}).encode())
    err = io.StringIO()
    old = os.getcwd()
    os.chdir(site)
    try:
        rc = commands.apply("review.json", load_settings({}, cwd=site), commands.Mode(), out=io.StringIO(), err=err)
    finally:
        os.chdir(old)
    assert rc == 1 and _read(target) == b"![](cat.jpg)\n"
    assert err.getvalue() == f"{path}:1:1: skipped: the path leads outside the project\n"


def test_a_report_nested_too_deeply_is_one_line(site: str) -> None:
    _write(site, "review.json", b"[" * 100_000 + b"]" * 100_000)
    err = io.StringIO()
    rc = commands.apply(os.path.join(site, "review.json"), load_settings({}, cwd=site), commands.Mode(), out=io.StringIO(), err=err)
    assert rc == 2 and err.getvalue() == f"{os.path.join(site, 'review.json')}: not an alttext report: nested too deeply\n"


class Hostile(EchoWriter):
    """The echoed caption with what a terminal would act on: colour, an OSC 8 link, NUL, a
    right-to-left override, a newline."""

    def write(self, conversations: Any, seeds: Any) -> list[str]:
        return [f"{t}\x1b[31m \x1b]8;;http://e.example\x07link\x1b]8;;\x07\x00\u202e\nred" for t in super().write(conversations, seeds)]


def test_printed_alt_text_is_the_written_text_without_controls(site: str) -> None:
    path = _write(site, "a.md", b"![](img/cat.jpg)\n")
    settings = dataclasses.replace(load_settings({}, cwd=site), backend="openai", writer_model="echo", length=60, grounding="off")
    out, err = io.StringIO(), io.StringIO()
    rc = commands.fix([path], settings, commands.Mode(), out=out, err=err, captioner=FixedCaptioner(), writer=Hostile())
    assert rc == 1
    written = re.search(rb"!\[(.*)\]", _read(path)).group(1).decode()  # type: ignore[union-attr]
    assert f'alt text added for img/cat.jpg: "{written}"' in out.getvalue()
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]", out.getvalue() + err.getvalue())


def test_a_long_data_uri_is_shortened_in_messages(site: str) -> None:
    uri = "data:image/png;base64," + "A" * 146_000
    _write(site, "a.md", f"![]({uri})\n".encode())
    rc, out, _, _ = _run(site, "a.md")
    assert rc == 1 and len(out) < 400 and "(146022 characters)" in out


def test_csv_report_cells_cannot_run_as_formulas_and_apply_reads_them_back(site: str) -> None:
    path = _write(site, "a.md", b"![](img/cat.jpg)\n")
    assert _run(site, report="review.csv")[0] == 1
    report = os.path.join(site, "review.csv")
    rows = list(csv.DictReader(open(report, encoding="utf-8")))
    rows[0]["alt"] = '=HYPERLINK("http://e.example","x")'
    with open(report, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, rows[0].keys(), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    from alttext.fixing.review import load, render

    [loaded] = load(report)
    again = render([loaded], "again.csv")
    assert '\'=HYPERLINK(""http://e.example"",""x"")' in again  # text to a spreadsheet
    with open(report, "w", encoding="utf-8", newline="") as f:
        f.write(again)
    assert load(report)[0]["alt"] == '=HYPERLINK("http://e.example","x")'  # and exactly the text to apply
    assert _read(path) == b"![](img/cat.jpg)\n"


def test_markdown_report_escapes_html(site: str) -> None:
    from alttext.fixing.review import render

    row = {"path": "a.md", "line": 1, "column": 1, "src": "<img src=x onerror=alert(1)>", "alt": "<script>alert(1)</script>",
           "caption": "", "reason": "", "dropped": [], "lint": [], "needs_review": False}
    text = render([row], "review.md")
    assert "<script" not in text and "<img" not in text and "&lt;script&gt;" in text


def test_apply_prints_and_writes_one_line_of_text(site: str) -> None:
    path = _write(site, "a.md", b"![](img/cat.jpg)\n")
    entry = {"path": "a.md", "line": 1, "column": 1, "start": 0, "end": 16, "original": "![](img/cat.jpg)",
             "alt": "A cat.\nINJECTED: 1 image fixed\x1b[2K", "rule": "ALT001"}
    _write(site, "review.json", json.dumps({"schema_version": 1, "entries": [entry]}).encode())
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(site)
    try:
        rc = commands.apply("review.json", load_settings({}, cwd=site), commands.Mode(), out=out, err=err)
    finally:
        os.chdir(old)
    assert rc == 1 and _read(path) == b"![A cat. INJECTED: 1 image fixed](img/cat.jpg)\n"
    assert out.getvalue() == 'a.md:1:1: alt text added for img/cat.jpg: "A cat. INJECTED: 1 image fixed"\n'


def test_naming_a_link_does_not_make_its_target_part_of_the_project(site: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    target = _outside(tmp_path_factory)
    os.symlink(target, os.path.join(site, "linked.md"))
    os.symlink(os.path.dirname(target), os.path.join(site, "linked-folder"))
    for named in ("linked.md", "linked-folder"):  # as `alttext fix docs/*.md` or lint-staged would
        rc, _, err, _ = _run(site, named)
        assert rc == 1 and _read(target) == b"![](cat.jpg)\n"
        assert "not written: it resolves to" in err


def test_a_read_only_page_still_gets_a_diff_and_a_report(site: str) -> None:
    path = _write(site, "a.md", b"![](img/cat.jpg)\n")
    os.chmod(path, 0o444)  # a Perforce workspace, a review checkout
    rc, out, _, _ = _run(site, "a.md", mode=commands.Mode(diff=True))
    assert rc == 1 and "+![A dog running on the grass.](img/cat.jpg)" in out
    assert _run(site, "a.md", report="review.json")[0] == 1
    with open(os.path.join(site, "review.json"), encoding="utf-8") as f:
        [entry] = json.load(f)["entries"]
    assert entry["alt"] == "A dog running on the grass." and entry["reason"] == ""
    assert _read(path) == b"![](img/cat.jpg)\n"


@pytest.mark.parametrize(
    ("dropped", "lint", "why"),
    [
        pytest.param(("It is sunny.",), ("name",), "It is sunny.", id="the dropped sentences first"),
        pytest.param((), ("length", "name", "length"), "length; name", id="each lint note once"),
        pytest.param((), (), "the pipeline repaired the text", id="never an empty reason"),
    ],
)
def test_why_a_text_needs_review(dropped: tuple[str, ...], lint: tuple[str, ...], why: str) -> None:
    from alttext.fixing.finish import why_review
    from alttext.fixing.fix import Proposal
    from alttext.model import Finding

    finding = Finding("a.md", 1, 1, 1, 11, "ALT001", "", "a.png", None, "markdown", "md-inline", 0, 10)
    assert why_review(Proposal(finding, alt="A dog.", dropped=dropped, lint=lint, needs_review=True)) == why
