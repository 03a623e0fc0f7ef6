"""The writer on a real llama.cpp server: ``python -m llama_cpp.server`` (``pip install
'llama-cpp-python[server]'``) on 127.0.0.1, serving SmolLM2-135M-Instruct, the GGUF file the
real-model tests use. This is the recipe of ``docs/servers.md``, run: ``alttext describe`` and
``alttext fix`` with ``--backend openai --captioner none`` against it (and ``--ocr off``: the
picture is an SVG, described from its own text, so no OCR engine is needed either).

Mechanics only, never wording: the server answers alttext's requests, each alt text is one
non-empty line, and the exit codes are the CLI's. Skipped when llama-cpp-python or the GGUF file
is missing, except in CI (``ALTTEXT_CI=1``), where ``.ci/llama-cpp`` builds and installs it and a
missing piece fails the test.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from alttext.cli import main
from alttext.pipeline.writer_openai import OpenAISettings, OpenAIWriter
from tests.conftest import FIXTURES, IN_CI
from tests.test_real_model import SMOLLM2

ALIAS = "smollm2"  # the name the server answers to (llama_cpp.server serves any name with its one model)
READY_S = 60.0  # loading a 93 MB GGUF takes about a second; a busy machine gets room
IMAGE = os.path.join(FIXTURES, "site", "img", "logo.svg")
PIPELINE = ["--captioner", "none", "--ocr", "off"]


def _missing(message: str) -> None:
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _models(url: str) -> list[str]:
    with urllib.request.urlopen(url + "/models", timeout=2) as response:
        return [m["id"] for m in json.load(response)["data"]]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL (``…/v1``) of a llama.cpp server serving SmolLM2 as ``smollm2``."""
    # The server extra brings fastapi, uvicorn, sse-starlette and starlette-context.
    if any(importlib.util.find_spec(m) is None for m in ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "starlette_context")):
        _missing("llama.cpp's server is not installed: CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install 'llama-cpp-python[server]==0.3.36'")
    if not os.path.isfile(SMOLLM2):
        _missing(f"{SMOLLM2} not found: ../shared/tools/real-llms.sh .real-llms smollm2")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/v1"
    log_path = tmp_path_factory.mktemp("llama-cpp") / "server.log"
    # One thread: llama.cpp's threads wait for each other at every layer, and on a runner whose
    # CPUs are busy with other work two threads were a hundred times slower than one (3.4 s a token).
    command = [sys.executable, "-m", "llama_cpp.server", "--model", SMOLLM2, "--model_alias", ALIAS,
               "--host", "127.0.0.1", "--port", str(port), "--n_threads", "1", "--n_threads_batch", "1", "--n_ctx", "4096"]
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + READY_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {server.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
            try:
                models = _models(url)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"llama_cpp.server did not answer within {READY_S:.0f} s:\n{log_path.read_text(errors='replace')[-3000:]}")
                time.sleep(0.25)
        assert models == [ALIAS]  # --model_alias is the name it lists (without it, the file's path)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_the_server_answers_alttexts_request(llama_server: str) -> None:
    # The body alttext sends (seed, chat_template_kwargs, enable_thinking) is accepted and the
    # model's text comes back: the answer below is the model's, not one composed from evidence.
    writer = OpenAIWriter(OpenAISettings(base_url=llama_server, model=ALIAS, max_tokens=24))
    conversation = [{"role": "user", "content": "Describe in one sentence: a red bicycle leaning on a wall."}]
    answer = writer.complete(conversation, seed=7)
    assert answer.strip(), answer
    assert writer.models() == [ALIAS]


def test_describe_against_the_server(llama_server: str, capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["describe", IMAGE, "--backend", "openai", "--base-url", llama_server, "--model", ALIAS, *PIPELINE, "--no-cache",
            "--format", "json"]
    assert main(argv) == 0
    out, _ = capsys.readouterr()
    [record] = json.loads(out)
    assert record["backend"] == "openai" and record["writer_model"] == ALIAS and record["error"] is None
    text = record["text"]
    assert text.strip() and "\n" not in text and "<think>" not in text.lower(), record


def test_fix_against_the_server(llama_server: str, capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    site = os.path.join(tmp_path, "site")
    os.makedirs(site)
    shutil.copy(IMAGE, os.path.join(site, "logo.svg"))
    page = os.path.join(site, "about.md")
    with open(page, "wb") as f:
        f.write(b"# About us\n\nOur logo:\n\n![](logo.svg)\n")
    monkeypatch.chdir(site)
    argv = ["fix", ".", "--backend", "openai", "--base-url", llama_server, "--model", ALIAS, *PIPELINE]
    assert main(argv) == 1
    _, err = capsys.readouterr()
    assert "Rewriting about.md" in err.splitlines(), err
    with open(page, "rb") as f:
        data = f.read()
    head, alt_and_rest = data.split(b"![", 1)
    alt, rest = alt_and_rest.split(b"](logo.svg)", 1)
    assert head == b"# About us\n\nOur logo:\n\n" and rest == b"\n"
    assert alt.strip() and b"\n" not in alt, data
    # Fixed once, fixed for good: the second run finds nothing to do and changes nothing.
    assert main(argv) == 0
    with open(page, "rb") as f:
        assert f.read() == data
