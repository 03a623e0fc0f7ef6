"""The CLI as a gate: a failure is never exit 1 (findings), nothing unchecked is called clean, and
built output or ignored files are not the source."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from alttext.cli import main
from tests.conftest import FIXTURES, REPO, require


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
    for module in ("torch", "transformers", "huggingface_hub"):
        monkeypatch.setitem(sys.modules, module, None)  # as on an install without the local extra
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
    assert err[-2:] == ["alttext: 1 image fixed in 1 file, 0 left", "alttext: 2 images in 1 file still lack alt text"]


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


# The conventions of a linter ------------------------------------------------------------------------


PAGE = "![](a.png)\n\n[![](b.png)](/b)\n\n![image](c.png)\n"


@pytest.mark.parametrize(("flags", "config", "rules"), [
    pytest.param([], "", ["ALT001", "ALT003"], id="default"),
    pytest.param(["--strict"], "", ["ALT001", "ALT003", "ALT002"], id="strict"),
    pytest.param(["--select", "ALT002"], "", ["ALT002"], id="select-enables"),
    pytest.param(["--ignore", "alt003"], "", ["ALT001"], id="ignore"),
    pytest.param([], 'select = ["ALT001", "ALT002"]\n', ["ALT001", "ALT002"], id="select-in-config"),
    pytest.param([], '[per-file-ignores]\n"*.md" = ["ALT001"]\n', ["ALT003"], id="per-file-ignores"),
    pytest.param([], '[per-file-ignores]\n"other/*.md" = ["ALT001"]\n', ["ALT001", "ALT003"], id="per-file-ignores-elsewhere"),
])
def test_rule_selection(flags: list[str], config: str, rules: list[str], tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _write("page.md", PAGE)
    if config:
        _write(".alttext.toml", config)
    main(["check", "page.md", *flags])
    assert [line.split()[1] for line in capsys.readouterr().out.splitlines()] == rules


def test_bad_rules_and_a_string_for_a_list_are_errors(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _write("page.md", PAGE)
    assert main(["check", "page.md", "--select", "ALT009"]) == 2
    assert capsys.readouterr().err == "alttext: error: command line: select: unknown rule 'ALT009' (rules: ALT001, ALT002, ALT003)\n"
    _write(".alttext.toml", 'exclude = "drafts"\n')
    assert main(["check", "page.md"]) == 2
    assert capsys.readouterr().err.endswith('.alttext.toml: exclude: expected a list of strings, not a string: write ["drafts"]\n')


@pytest.mark.parametrize(("page", "kept"), [
    pytest.param("<!-- alttext-disable -->\n![](a.png)\n<!-- alttext-enable -->\n\n![](b.png)\n", ["b.png"], id="region"),
    pytest.param("<!-- alttext-disable ALT003 -->\n\n[![](a.png)](/a)\n\n![](b.png)\n", ["b.png"], id="region-per-rule"),
    pytest.param("![](a.png)\n\n<!-- alttext-disable-file -->\n\n![](b.png)\n", [], id="file"),
    pytest.param("![](a.png)\n\n[![](c.png)](/c)\n\n<!-- alttext-disable-file ALT001 -->\n", ["c.png"], id="file-per-rule"),
    pytest.param("<!-- alttext-disable-file ALT001 -->\n<!-- alttext-enable -->\n\n![](a.png)\n", [], id="enable-cannot-undo-the-file"),
    pytest.param("<!-- alttext: ignore -->\n![](a.png)\n\n![](b.png)\n", ["b.png"], id="next-image"),
])
def test_inline_control(page: str, kept: list[str], tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    import re

    html = re.sub(r"\[!\[\]\((\w+\.png)\)\]\((/\w+)\)", r'<a href="\2"><img src="\1"></a>', page)
    html = re.sub(r"!\[\]\((\w+\.png)\)", r'<img src="\1">', html)
    for name, text in (("page.md", page), ("page.html", html)):
        _write(name, text)
        main(["check", name])
        out = capsys.readouterr().out
        assert [line.split('"')[1] for line in out.splitlines()] == kept, name


def test_an_unknown_directive_is_a_warning(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _write("page.md", "<!-- alttext-disbale -->\n\n![](a.png)\n\n<!-- alttext check runs in CI -->\n")
    assert main(["check", "page.md"]) == 1
    out, err = capsys.readouterr()
    assert out == 'page.md:3:1: ALT001 image "a.png" has no alt text\n'
    assert err.splitlines()[0].startswith('page.md:1:1: warning: unknown alttext directive "alttext-disbale"')
    assert len(err.splitlines()) == 2  # a comment that merely mentions alttext is no directive


# First run ------------------------------------------------------------------------------------------


def test_a_model_that_is_not_here_and_cannot_be_fetched_fails_in_seconds(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import time

    from alttext.pipeline import describe as pipeline

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pipeline, "_LOADED", {})
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: as offline
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    started = time.monotonic()
    assert main(["describe", os.path.join(FIXTURES, "site", "img", "meadow.jpg"), "--no-cache", "--ocr", "off"]) == 2
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "alttext: error: the captioner model 'Salesforce/blip-image-captioning-base' is not on this machine and the hub cannot be "
        "reached: run alttext models pull (or hf download Salesforce/blip-image-captioning-base) where there is a network, or set "
        'captioner = "/path/to/local/folder"']


def test_models_lists_what_is_here(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    os.makedirs("blip")
    _write("blip/config.json", "{}")
    assert main(["models", "--captioner", "blip", "--model", "Qwen/Qwen3-0.6B"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "captioner  blip  blip  2 B"
    assert lines[1] == "writer     Qwen/Qwen3-0.6B  not downloaded (alttext models pull)"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["models", "pull", "--model", "Qwen/Qwen3-0.6B", "--captioner", "none"]) == 2
    assert capsys.readouterr().err == "alttext: error: the hub cannot be reached (or HF_HUB_OFFLINE is set): alttext models pull needs a network\n"


# Output ---------------------------------------------------------------------------------------------


def test_colour_on_a_terminal_only(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _write("a.md", "![](x.png)\n")
    main(["check", "a.md", "--color", "always"])
    assert capsys.readouterr().out == '\x1b[1ma.md\x1b[0m:1:1: \x1b[31mALT001\x1b[0m image "x.png" has no alt text\n'
    main(["check", "a.md"])  # auto, and not a terminal here
    assert "\x1b" not in capsys.readouterr().out
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    main(["check", "a.md"])
    assert "\x1b" not in capsys.readouterr().out


def test_junit_and_gitlab_reports(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import xml.etree.ElementTree as ET

    monkeypatch.chdir(tmp_path)
    _write("a.md", "![](x.png)\n\n![image](y.png)\n")
    _write("bad.md", "\xff")
    with open("bad.md", "wb") as f:
        f.write(b"\xff")
    assert main(["check", "a.md", "bad.md", "--format", "junit", "--strict"]) == 2
    suite = ET.fromstring(capsys.readouterr().out).find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "2", "1")
    assert [c.find("failure").get("type") for c in suite if c.find("failure") is not None] == ["ALT001", "ALT002"]  # type: ignore[union-attr]
    assert main(["check", "a.md", "--format", "gitlab"]) == 1
    [issue] = json.loads(capsys.readouterr().out)
    assert (issue["check_name"], issue["severity"], issue["location"]) == ("ALT001", "major", {"path": "a.md", "lines": {"begin": 1}})
    _write("a.md", "# Moved down\n\n![](x.png)\n")
    main(["check", "a.md", "--format", "gitlab"])
    assert json.loads(capsys.readouterr().out)[0]["fingerprint"] == issue["fingerprint"]  # a moved line is the same issue
    _write("clean.md", "![A cat.](c.png)\n")
    assert main(["check", "clean.md", "--format", "junit"]) == 0
    assert '<testcase classname="alttext" name="1 files checked"/>' in capsys.readouterr().out


def test_github_annotations_beyond_ten_and_the_step_summary(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _write("a.md", "".join(f"![](i{k}.png)\n\n" for k in range(12)))
    summary = os.path.join(str(tmp_path), "summary.md")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", summary)
    assert main(["check", "a.md", "--format", "github"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 13 and out[-1].startswith("::notice title=alttext::12 findings and errors; GitHub shows 10 annotations")
    with open(summary, encoding="utf-8") as f:
        table = f.read().splitlines()
    assert table[0] == "### alttext: 12 findings in 1 files checked" and table[4] == '| `a.md` | 1 | ALT001 | image "i0.png" has no alt text |'
    _write("b.md", "![](x.png)\n")
    main(["check", "b.md", "--format", "github"])
    assert "::notice" not in capsys.readouterr().out


def test_stdin_with_a_file_name(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    monkeypatch.chdir(tmp_path)
    _write("docs/.alttext.toml", "strict = true\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'<img src="a.png" alt="image">\n')))
    assert main(["check", "-", "--stdin-filename", "docs/page.html"]) == 1
    assert capsys.readouterr().out == 'docs/page.html:1:1: ALT002 image "a.png" has weak alt text "image": it is a vague word\n'


def test_each_path_takes_its_own_configuration(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    for site in ("a", "b"):
        _write(f"{site}/page.md", "![image](x.png)\n")
    _write("b/.alttext.toml", "strict = true\n")
    assert main(["check", "a", "b"]) == 1
    assert capsys.readouterr().out == 'b/page.md:1:1: ALT002 image "x.png" has weak alt text "image": it is a vague word\n'
    assert main(["check", "a", "b", "--config", "b/.alttext.toml"]) == 1  # one named: it holds for all
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_every_option_has_help() -> None:
    import argparse

    from alttext.cli import _parser

    parser = _parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    missing = [f"{name} {a.option_strings or a.dest}" for name, sub in commands.choices.items() for a in sub._actions
               if not a.help and not isinstance(a, argparse._HelpAction)]
    assert missing == []


# Packaging --------------------------------------------------------------------------------------------


def test_the_checker_installs_alone_and_each_command_names_its_extra() -> None:
    import tomllib

    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    light = " ".join(project["dependencies"]).lower()
    assert not any(heavy in light for heavy in ("pillow", "openai", "watchdog", "torch", "transformers", "numpy"))
    extras = project["optional-dependencies"]
    assert any(d.startswith("pillow") for d in extras["fix"]) and any(d.startswith("watchdog") for d in extras["watch"])
    assert project["license-files"] == ["LICENSE"] and project["urls"]
    with open(os.path.join(REPO, "LICENSE"), encoding="utf-8") as f:
        assert "Apache License" in f.read(200)
    from alttext.cli import EXTRAS

    for module, extra in EXTRAS.items():
        assert extra in extras, module


def test_the_sdist_holds_the_fixtures_its_tests_need(tmp_path: os.PathLike[str]) -> None:
    import tarfile

    require("build")
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(tmp_path), REPO], check=True,
                   capture_output=True, timeout=300)
    [sdist] = [n for n in os.listdir(tmp_path) if n.endswith(".tar.gz")]
    with tarfile.open(os.path.join(str(tmp_path), sdist)) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in ("LICENSE", "tests/conftest.py", "tests/golden/site.sarif", "fixtures/site/index.html",
                   "fixtures/evidence/images/login.png", "fixtures/eval/dataset.jsonl"):
        assert needed in names, needed


def test_the_hook_manifest_and_the_local_recipe_work(tmp_path: os.PathLike[str]) -> None:
    """pre-commit validates the manifest, and runs the README's local hook (no download needed)."""
    import re
    import shutil

    require("pre_commit")
    run = {"cwd": tmp_path, "capture_output": True, "text": True, "timeout": 300}
    assert subprocess.run([sys.executable, "-m", "pre_commit", "validate-manifest", os.path.join(REPO, ".pre-commit-hooks.yaml")], **run).returncode == 0
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        [local] = re.findall(r"```yaml\n(repos:\n  - repo: local\n.*?)```", f.read(), re.S)
    _write(os.path.join(str(tmp_path), ".pre-commit-config.yaml"), local)
    _write(os.path.join(str(tmp_path), "page.md"), "![](x.png)\n")
    shutil.copy(os.path.join(FIXTURES, "site", "img", "meadow.jpg"), os.path.join(str(tmp_path), "x.png"))
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""), "PRE_COMMIT_HOME": str(tmp_path / "cache")}
    subprocess.run(["git", "init", "-q"], **run, check=True)
    subprocess.run(["git", "add", "."], **run, check=True)
    done = subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files"], **run, env=env)
    assert done.returncode == 1 and 'page.md:1:1: ALT001 image "x.png" has no alt text' in done.stdout
