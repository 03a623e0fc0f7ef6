"""The README's examples must work: its config parses, its console output is real."""

from __future__ import annotations

import os
import re

import pytest

from alttext.cli import main
from alttext.config import load_settings
from tests.conftest import REPO


def _readme() -> str:
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        return f.read()


def test_config_example_loads(tmp_path: os.PathLike[str]) -> None:
    [block] = re.findall(r"```toml\n(\[tool\.alttext\].*?)```", _readme(), re.S)
    path = os.path.join(str(tmp_path), "pyproject.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(block)
    settings = load_settings({}, config_path=path, environ={})
    assert settings.strict and settings.exclude == ("drafts", "site/vendor/", "**/*.min.html")


def test_console_example_is_real_output(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    [block] = re.findall(r"```console\n\$ alttext check fixtures/site\n(.*?)```", _readme(), re.S)
    monkeypatch.chdir(REPO)
    assert main(["check", "fixtures/site"]) == 1
    out, err = capsys.readouterr()
    for line in block.splitlines():
        if line == "...":
            continue
        assert line in out.splitlines() + err.splitlines()


def test_documented_keys_are_the_real_keys() -> None:
    from alttext.config import KEYS

    section = _readme().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `(\w+)` \|", section, re.M)
    assert sorted(documented) == sorted(KEYS)
