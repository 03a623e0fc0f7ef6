"""The CLI as a gate: a failure is never exit 1 (findings), nothing unchecked is called clean, and
built output or ignored files are not the source."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from alttext.cli import main
from tests.conftest import FIXTURES, REPO


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# A crash is never exit 1 ------------------------------------------------------------------------


def test_a_missing_extra_is_one_line_and_exit_two(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from alttext.pipeline import describe as pipeline

    monkeypatch.chdir(tmp_path)
    _write("post.md", "![](cat.png)\n")
    with open(os.path.join(FIXTURES, "site", "img", "meadow.jpg"), "rb") as src, open("cat.png", "wb") as dst:
        dst.write(src.read())
    monkeypatch.setattr(pipeline, "_LOADED", {})
    for module in ("torch", "transformers"):
        monkeypatch.setitem(sys.modules, module, None)  # as on a check-only install
    assert main(["fix", "post.md", "--ocr", "off", "--no-cache"]) == 2
    out, err = capsys.readouterr()
    last = err.splitlines()[-1]
    assert out == "" and last.startswith("alttext: error: alttext fix needs the local extra (") and last.endswith(
        " is not installed): pip install 'alttext[local]'")
    assert len(err.splitlines()) <= 3


def test_an_unexpected_error_is_one_line_and_exit_two(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from alttext.scan import files

    monkeypatch.chdir(tmp_path)
    _write("a.md", "![](x.png)\n")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk said no\nsecond line")

    monkeypatch.setattr(files, "check_file", broken)
    assert main(["check", "a.md"]) == 2
    assert capsys.readouterr().err == "alttext: error: unexpected RuntimeError: the disk said no (rerun with --debug for the traceback)\n"
    assert main(["check", "a.md", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last):" in err and "RuntimeError: the disk said no" in err


def test_a_closed_pipe_ends_quietly(tmp_path: os.PathLike[str]) -> None:
    for k in range(200):  # 5 MB of findings: far more than a pipe holds once head has gone
        _write(os.path.join(str(tmp_path), f"p{k}.md"), "![](a.png)\n\n" * 500)
    done = subprocess.run(f"{sys.executable} -m alttext check . | head -1; echo rc=${{PIPESTATUS[0]}}", shell=True, executable="/bin/bash",
                          cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": REPO}, timeout=120)
    assert done.stdout.splitlines()[0].startswith("p0.md:1:1: ALT001") and done.stdout.splitlines()[1] in ("rc=1", "rc=141")
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


def test_a_reader_that_goes_away_is_exit_141_without_a_traceback(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    class Gone:
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self) -> int:
            return os.open(os.devnull, os.O_WRONLY)

    monkeypatch.chdir(tmp_path)
    _write("a.md", "![](x.png)\n")
    monkeypatch.setattr(sys, "stdout", Gone())
    assert main(["check", "a.md"]) == 141
    assert capsys.readouterr().err == ""


# Nothing unchecked is called clean -------------------------------------------------------------------


def test_a_path_that_does_not_exist_is_one_error_line(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["check", "missing"]) == 2
    assert capsys.readouterr() == ("", "missing: no such file or directory\n")


def test_a_folder_without_pages_says_so_and_can_be_an_error(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    os.makedirs("assets")
    assert main(["check", "assets"]) == 0
    assert capsys.readouterr().err == "alttext: no HTML or Markdown files found in assets\n"
    assert main(["check", "assets", "--require-files"]) == 2
    assert capsys.readouterr().err == "alttext: error: no HTML or Markdown files found in assets (--require-files)\n"


def test_dry_run_and_diff_say_what_they_would_fix(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    with open(os.path.join(FIXTURES, "evidence", "images", "quote.png"), "rb") as src, open("quote.png", "wb") as dst:
        dst.write(src.read())
    _write("a.md", "![](quote.png)\n")
    for flag in ("--dry-run", "--diff"):
        assert main(["fix", "a.md", flag, "--captioner", "none", "--backend", "none", "--ocr", "on", "--no-cache"]) == 1
        assert capsys.readouterr().err.splitlines()[-1] == "alttext: would fix 1 image in 1 file, 0 left"


def test_apply_says_how_many_images_still_lack_alt_text(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import json

    monkeypatch.chdir(tmp_path)
    _write("a.md", "![](a.png)\n\n![](b.png)\n\n![](c.png)\n")
    entry = {"path": "a.md", "line": 1, "column": 1, "start": 0, "end": 10, "original": "![](a.png)", "alt": "A red door."}
    _write("report.json", json.dumps({"schema_version": 1, "entries": [entry]}))
    assert main(["apply", "report.json"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-2:] == ["alttext: 1 image fixed in 1 file, 0 left", "alttext: 2 images in these 1 file still lack alt text"]


# Built output and ignored files are not the source --------------------------------------------------


@pytest.mark.parametrize(("config", "output"), [
    pytest.param("_config.yml", ["_site", "vendor/bundle/ruby/gems/x", ".jekyll-cache"], id="jekyll"),
    pytest.param("hugo.toml", ["public", "resources/_gen"], id="hugo"),
    pytest.param("mkdocs.yml", ["site"], id="mkdocs"),
    pytest.param("docusaurus.config.js", ["build"], id="docusaurus"),
])
def test_each_engines_output_is_skipped(config: str, output: list[str], tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _write(config, "title: x\n")
    source = {"_config.yml": "index.md", "hugo.toml": "content/index.md", "mkdocs.yml": "docs/index.md", "docusaurus.config.js": "docs/index.md"}[config]
    _write(source, "![](a.png)\n")
    for folder in output:
        _write(os.path.join(folder, "index.md"), "![](a.png)\n")
        _write(os.path.join(folder, "index.html"), '<img src="a.png">\n')
    assert main(["check", "."]) == 1
    assert capsys.readouterr().out == f'{source}:1:1: ALT001 image "a.png" has no alt text\n'


def test_an_output_folder_setting_moves_what_is_skipped(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _write("mkdocs.yml", "site_dir: out\n")
    _write("docs/index.md", "![](a.png)\n")
    _write("out/index.html", '<img src="a.png">\n')
    _write("site/notes.md", "![](a.png)\n")  # not mkdocs' output here: checked
    assert main(["check", "."]) == 1
    assert capsys.readouterr().out.splitlines() == ['docs/index.md:1:1: ALT001 image "a.png" has no alt text',
                                                    'site/notes.md:1:1: ALT001 image "a.png" has no alt text']


def test_gitignore_and_ignore_files_are_honoured(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    os.makedirs(".git")
    _write(".gitignore", "drafts/\n*.tmp.md\n")
    _write("docs/.gitignore", "!keep.tmp.md\n")
    _write("docs/.ignore", "private.md\n")
    for name in ("index.md", "drafts/a.md", "x.tmp.md", "docs/keep.tmp.md", "docs/other.tmp.md", "docs/private.md", "docs/page.md"):
        _write(name, "![](a.png)\n")
    assert main(["check", "."]) == 1
    assert [line.split(":")[0] for line in capsys.readouterr().out.splitlines()] == ["docs/keep.tmp.md", "docs/page.md", "index.md"]
    assert main(["check", ".", "--no-ignore"]) == 1
    assert len(capsys.readouterr().out.splitlines()) == 7
    # Outside a Git work tree a .gitignore means nothing; .ignore still counts.
    os.rmdir(".git")
    from alttext.scan import ignore

    ignore._git_root.cache_clear()
    ignore._spec.cache_clear()
    assert main(["check", "."]) == 1
    assert "docs/private.md" not in capsys.readouterr().out
