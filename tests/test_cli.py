from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from alttext.cli import main
from tests.conftest import REPO

HEAVY = ("torch", "transformers", "openai", "PIL", "watchdog", "bs4")


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def test_no_arguments_is_help_and_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "check" in capsys.readouterr().out


def test_no_files_returns_zero(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["check"]) == 0
    assert capsys.readouterr().err == "alttext: no HTML or Markdown files found in .\n"


def test_findings_exit_one_with_exact_output(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _write("a.md", b"# T\r\n\r\nSee ![](cat.png)\r\n")
    _write("b.md", b"![A cat](cat.png)\n")
    assert main(["check", "a.md", "b.md"]) == 1
    out, err = capsys.readouterr()
    assert out == 'a.md:3:5: ALT001 image "cat.png" has no alt text\n'
    assert err == "alttext: 1 finding in 1 file (2 files checked)\n"
    assert main(["check", "--quiet", "b.md"]) == 0
    assert capsys.readouterr() == ("", "")


def test_unreadable_input_exits_two_and_checks_the_rest(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _write("bad.md", b"\xff\xfe")
    _write("good.md", b"![](x.png)")
    assert main(["check", "."]) == 2
    out, err = capsys.readouterr()
    assert out == 'good.md:1:1: ALT001 image "x.png" has no alt text\n'
    assert err.splitlines() == [
        "bad.md: not valid UTF-8 (byte 0xff at offset 0); convert it to UTF-8",
        "alttext: 1 finding in 1 file (2 files checked)",
        "alttext: 1 file could not be checked",
    ]


def test_config_error_exits_two(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _write(".alttext.toml", b"strict = 'yes please'\n")
    assert main(["check"]) == 2
    assert capsys.readouterr().err == "alttext: error: .alttext.toml: strict: expected true or false\n".replace(
        ".alttext.toml", os.path.join(str(tmp_path), ".alttext.toml")
    )


def test_usage_error_exits_two(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["check", "--format", "xml"])
    assert info.value.code == 2
    assert "alttext: error: argument --format: invalid choice: 'xml'" in capsys.readouterr().err


def test_json_has_no_summary_on_stderr(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _write("a.html", b"<img src=a.png>")
    assert main(["check", "--format", "json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["summary"]["findings"] == 1 and err == ""


def test_strict_from_config(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _write("pyproject.toml", b"[tool.alttext]\nstrict = true\n")
    _write("a.md", b"![image](a.png)")
    assert main(["check", "-q"]) == 1
    assert capsys.readouterr().out.startswith("a.md:1:1: ALT002 ")


def _modules_after(args: list[str]) -> tuple[int, set[str]]:
    code = (
        "import sys\nfrom alttext.cli import main\n"
        "try:\n    rc = main(sys.argv[1:])\nexcept SystemExit as e:\n    rc = e.code\n"
        "print(repr(sorted(m for m in sys.modules if m.split('.')[0] in {names!r})))\n"
        "raise SystemExit(rc)\n"
    ).format(names=set(HEAVY))
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True)
    return proc.returncode, set(eval(proc.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "args",
    [["check", "fixtures/site"], ["check", "--strict", "--format", "sarif", "fixtures/site"], ["--help"], ["--version"], ["describe", "--help"], ["fix", "--help"], ["apply", "--help"]],
)
def test_check_and_help_import_nothing_heavy(args: list[str]) -> None:
    rc, heavy = _modules_after(args)
    assert rc in (0, 1) and heavy == set()


def test_module_entry_point() -> None:
    proc = subprocess.run([sys.executable, "-m", "alttext", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("alttext ")


def test_a_part_too_deep_to_check_fails_the_gate(tmp_path: os.PathLike[str], capsys: pytest.CaptureFixture[str]) -> None:
    path = os.path.join(str(tmp_path), "deep.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("# Deep\n\n" + ">" * 150 + " ![](b.png)\n")
    assert main(["check", path]) == 2
    err = capsys.readouterr().err
    assert f"{path}:3:1: blocks nested more than 100 deep; the images inside are not checked\n" in err
