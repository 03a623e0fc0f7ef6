"""The examples of the README and of docs/ must work: their config parses, their console output
is real, the CI recipe runs."""

from __future__ import annotations

import os
import re

import pytest

from alttext.cli import main
from alttext.config import load_settings
from tests.conftest import REPO


def _readme(page: str = "README.md") -> str:
    with open(os.path.join(REPO, page), encoding="utf-8") as f:
        return f.read()


def test_config_examples_load(tmp_path: os.PathLike[str]) -> None:
    [first] = re.findall(r"```toml\n(\[tool\.alttext\].*?)```", _readme("docs/configuration.md"), re.S)
    [serving] = re.findall(r"```toml\n(\[tool\.alttext\].*?)```", _readme("docs/performance.md"), re.S)
    path = os.path.join(str(tmp_path), "pyproject.toml")
    loaded = []
    for block in (first, serving):
        with open(path, "w", encoding="utf-8") as f:
            f.write(block)
        loaded.append(load_settings({}, config_path=path, environ={}))
    assert loaded[0].strict and loaded[0].exclude == ("drafts", "site/vendor/", "**/*.min.html")
    assert (loaded[1].backend, loaded[1].concurrency, loaded[1].batch_size) == ("openai", 64, 32)


def _pattern(template: str) -> str:
    """A message template as a regex: each {field} matches anything."""
    parts = re.split(r"\{[a-z_]+(?:![a-z])?\}", template)
    return ".+".join(re.escape(p) for p in parts)


def _example_lines(command: str, page: str) -> list[str]:
    blocks = re.findall(r"```console\n(.*?)```", _readme(page), re.S)
    lines = [b.splitlines() for b in blocks if command in b]
    assert lines, command
    return [line for block in lines for line in block if not line.startswith("$ ") and line != "^C"]


@pytest.mark.parametrize(
    ("command", "page", "templates"),
    [
        pytest.param("$ alttext watch", "docs/watch.md", ("WATCH_STARTED", "WATCH_ADDED", "WATCH_REFRESHED", "WATCH_NOT_FIXED", "INTERRUPTED"),
                     id="watch"),
        pytest.param("$ alttext cache stats", "docs/cache.md", ("CACHE_STATS", "CACHE_CLEARED"), id="cache"),
    ],
)
def test_example_sessions_use_the_real_messages(command: str, page: str, templates: tuple[str, ...]) -> None:
    from alttext import messages

    patterns = [_pattern(getattr(messages, t)) for t in templates]
    for line in _example_lines(command, page):
        assert any(re.fullmatch(p, line) for p in patterns), line


def test_console_example_is_real_output(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    [block] = re.findall(r"```console\n\$ alttext check fixtures/site\n(.*?)```", _readme(), re.S)
    monkeypatch.chdir(REPO)
    assert main(["check", "fixtures/site"]) == 1
    out, err = capsys.readouterr()
    for line in block.splitlines():
        if line == "...":
            continue
        assert line in out.splitlines() + err.splitlines()


def test_eval_example_is_real_output(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    command = "alttext eval fixtures/eval/dataset.jsonl --from-caption --backend none"
    [block] = re.findall(r"```console\n\$ " + re.escape(command) + r"\n(.*?)```", _readme("docs/eval.md"), re.S)
    monkeypatch.chdir(REPO)
    assert main(command.split()[1:]) == 0
    out = capsys.readouterr().out.splitlines()
    shown = [line for line in block.splitlines() if line != "..."]
    assert shown and all(line in out for line in shown)


def test_eval_dataset_example_loads(tmp_path: os.PathLike[str]) -> None:
    import json
    import shutil

    from alttext.eval.evaluation import load_dataset
    from alttext.model import Settings

    [line] = re.findall(r"```json\n(\{\"id\".*?)\n```", _readme("docs/eval.md"), re.S)
    os.makedirs(os.path.join(str(tmp_path), "images"))
    shutil.copy(os.path.join(REPO, "fixtures", "eval", "images", "bar-chart.png"), os.path.join(str(tmp_path), "images"))
    path = os.path.join(str(tmp_path), "data.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        f.write(line + "\n")
    [item] = load_dataset(path, Settings())
    assert item.id == json.loads(line)["id"] and item.context.heading == "Quarterly sales"


def test_documented_keys_are_the_real_keys() -> None:
    from alttext.options import OPTIONS

    documented = re.findall(r"^\| `(\w+)` \|", _readme("docs/configuration.md"), re.M)
    assert sorted(documented) == sorted(OPTIONS)


def test_the_ci_recipe_runs(tmp_path: os.PathLike[str]) -> None:
    """The README's GitHub Actions steps that run alttext, run here on the fixture site: the gate
    fails on findings, and the SARIF step passes on findings alone and writes valid SARIF."""
    import json
    import shutil
    import subprocess
    import sys

    import yaml  # pre-commit's dependency, in the test extra

    [workflow] = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(name: accessibility\n.*?)```", _readme(), re.S)]
    steps = [s["run"] for s in workflow["jobs"]["alt-text"]["steps"] if s.get("run", "").startswith("alttext ")]
    assert len(steps) == 2
    shutil.copytree(os.path.join(REPO, "fixtures", "site"), os.path.join(str(tmp_path), "docs"))
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    gate, sarif = (subprocess.run(step, shell=True, executable="/bin/bash", cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
                   for step in steps)
    assert gate.returncode == 1 and gate.stdout.startswith("::error file=docs/")
    assert sarif.returncode == 0
    with open(os.path.join(str(tmp_path), "alttext.sarif"), encoding="utf-8") as f:
        assert json.load(f)["runs"][0]["results"]
    broken = os.path.join(str(tmp_path), "docs", "broken.md")
    with open(broken, "wb") as f:
        f.write(b"\xff")
    again = subprocess.run(steps[1], shell=True, executable="/bin/bash", cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1  # an unreadable file is exit 2: the SARIF step fails, as the README says
