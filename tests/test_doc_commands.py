"""Every command that the README, CONTRIBUTING.md and docs/ show runs here, as it is written.

A shell (``sh``) or ``console`` block runs, command by command and in order, in a sandbox that
holds a copy of ``fixtures/`` and the fixture site as ``docs/``; the default models are tiny
random-weight ones (mechanics only), and a server a command names is the test server on that port.
``python3 -m pytest -q`` is the suite itself: it must be ``.ci/run``'s test command. A block that
does not run here says why in a marker just above it: ``<!-- needs: gpu -->`` (vLLM),
``<!-- needs: network -->`` (it downloads: pip, npm, a model, a server's build), or
``<!-- runs in tests/test_x.py -->`` (that test reads the block from the page and runs it).
"""

from __future__ import annotations

import contextlib
import glob
import io
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from alttext.cli import main
from tests.conftest import FIXTURES, IN_CI, QWEN3, REPO
from tests.openai_server import Script, serve

PAGES = ["README.md", "CONTRIBUTING.md"] + sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "docs", "*.md")))
BLOCK = re.compile(r"(?:<!-- (needs: \w+|runs in [\w/.]+) -->\n)? *```(sh|console)\n(.*?)```", re.S)
NEEDS = ("needs: gpu", "needs: network")
# Commands that serve until Ctrl-C: run as a process, stopped once they say they are serving.
SERVING = {"watch": "alttext: watching ", "review": "alttext: reviewing at "}
SMOLLM2 = os.path.join(os.environ.get("ALTTEXT_REAL_LLMS") or os.path.join(REPO, ".real-llms"), "SmolLM2-135M-Instruct.Q4_1.gguf")


@dataclass(frozen=True)
class Block:
    page: str
    needs: str | None
    commands: tuple[str, ...]


def commands(kind: str, text: str) -> tuple[str, ...]:
    """The commands of a block: each line of a shell block (continuations joined, comments
    dropped), the ``$`` lines of a console session."""
    text = text.replace("\\\n", " ")
    if kind == "console":
        return tuple(line[2:] for line in text.splitlines() if line.startswith("$ "))
    return tuple(line.strip() for line in text.splitlines() if shlex.split(line, comments=True))


def blocks(page: str) -> list[Block]:
    with open(os.path.join(REPO, page), encoding="utf-8") as f:
        text = f.read()
    return [Block(page, m.group(1), commands(m.group(2), m.group(3))) for m in BLOCK.finditer(text)]


def test_every_marker_is_a_known_need_or_a_test_that_runs_the_block() -> None:
    found = [(b.page, b.needs) for page in PAGES for b in blocks(page) if b.needs]
    assert found
    for page, needs in found:
        if needs.startswith("runs in "):
            with open(os.path.join(REPO, needs.removeprefix("runs in ")), encoding="utf-8") as f:
                assert f"<!-- {needs} -->" in f.read(), (page, needs)
        else:
            assert needs in NEEDS, (page, needs)


def test_the_suite_the_docs_show_is_the_one_ci_runs() -> None:
    with open(os.path.join(REPO, ".ci", "run"), encoding="utf-8") as f:
        assert "python3 -m pytest -q" in f.read().splitlines()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    pytest.importorskip("torch")
    from tests.models import tiny_blip, tiny_qwen3

    return {"ALTTEXT_CAPTIONER": tiny_blip(str(tmp_path_factory.mktemp("blip"))),
            "ALTTEXT_WRITER_MODEL": tiny_qwen3(str(tmp_path_factory.mktemp("qwen")), QWEN3)}


def _sandbox(folder: str) -> None:
    shutil.copytree(FIXTURES, os.path.join(folder, "fixtures"))
    shutil.copytree(os.path.join(FIXTURES, "site"), os.path.join(folder, "docs"))
    if os.path.isfile(SMOLLM2):
        os.symlink(os.path.dirname(SMOLLM2), os.path.join(folder, ".real-llms"))


@contextlib.contextmanager
def _servers(argv: list[str]) -> Iterator[None]:
    """The test server on each local port the command names, answering for the model it names."""
    urls = {argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("--base-url", "--captioner-base-url")}
    names = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("--model", "--captioner-model")]
    with contextlib.ExitStack() as stack:
        for url in urls:
            port = re.fullmatch(r"http://(?:localhost|127\.0\.0\.1):(\d+)(?:/v1)?", url)
            assert port, f"{url}: only a local server can run here; mark the block"
            script = Script(replies=[(200, "A green leaf inside a white circle.", 0.0)],
                            image_replies=[(200, "A green leaf inside a white circle.", 0.0)], models=names or ["qwen3-0.6b"])
            stack.enter_context(serve(script, port=int(port.group(1))))
        yield


def _expand(argv: list[str], cwd: str) -> list[str]:
    """Globs, as the shell expands them."""
    out: list[str] = []
    for arg in argv:
        found = sorted(os.path.relpath(p, cwd) for p in glob.glob(os.path.join(cwd, arg))) if "*" in arg else []
        out.extend(found or [arg])
    return out


def _serve_and_stop(argv: list[str], cwd: str, env: dict[str, str]) -> None:
    ready = SERVING[argv[1]]
    # A shell without job control starts its background jobs with SIGINT ignored, and a child
    # inherits that: give the command Ctrl-C back, as a terminal would.
    process = subprocess.Popen([sys.executable, "-m", "alttext", *argv[1:]], cwd=cwd, env=env, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        lines = []
        for line in process.stderr:  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith(ready):
                break
        process.send_signal(signal.SIGINT)
        rest = process.communicate(timeout=120)[1]
    finally:
        process.kill()
    assert process.returncode == 130, "".join(lines) + rest
    assert "Traceback" not in "".join(lines) + rest


def _run(command: str, cwd: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    argv = _expand(shlex.split(command, comments=True), cwd)
    if argv == ["python3", "-m", "pytest", "-q"]:
        return  # the suite this test is part of (test_the_suite_the_docs_show_is_the_one_ci_runs)
    if argv[:4] == ["python3", "-m", "pytest", "-q"] and len(argv) > 4:
        done = subprocess.run([sys.executable, *argv[1:]], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:]
        return
    assert argv[0] == "alttext", f"{command}: the test cannot run this command; mark its block (needs: gpu, network or ci)"
    if argv[1] in SERVING and "--export" not in argv:  # review --export writes a page and exits
        _serve_and_stop(argv, cwd, env)
        return
    if argv[1:3] == ["check", "-"]:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"# A page\n\n![](a.png)\n"), encoding="utf-8"))
    with _servers(argv):
        rc = main(argv[1:])
    out, err = capsys.readouterr()
    assert rc in (0, 1), f"{command}: exit {rc}\n{err}"


@pytest.mark.parametrize("page", [page for page in PAGES if any(b.needs is None for b in blocks(page))])
def test_the_commands_of_each_page_run(page: str, models: dict[str, str], tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    runnable = [c for b in blocks(page) if b.needs is None for c in b.commands]
    if any(".real-llms/" in c for c in runnable) and not os.path.isfile(SMOLLM2):
        message = f"{SMOLLM2} not found: ../shared/tools/real-llms.sh .real-llms smollm2"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    cwd = str(tmp_path)
    _sandbox(cwd)
    monkeypatch.chdir(cwd)
    for name, value in {**models, "HF_HUB_OFFLINE": "1", "BROWSER": "true"}.items():
        monkeypatch.setenv(name, value)
    env = dict(os.environ)
    for command in runnable:
        _run(command, cwd, env, monkeypatch, capsys)
