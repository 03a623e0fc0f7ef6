from __future__ import annotations

import json
import os

import pytest

from alttext.cli import main
from tests.conftest import FIXTURES, QWEN3
from tests.openai_server import Script, serve

MEADOW = os.path.join(FIXTURES, "site", "img", "meadow.jpg")
LOGO = os.path.join(FIXTURES, "site", "img", "logo.svg")


@pytest.fixture(scope="module")
def blip(tmp_path_factory: pytest.TempPathFactory) -> str:
    pytest.importorskip("torch")
    from tests.models import tiny_blip

    return tiny_blip(str(tmp_path_factory.mktemp("blip")))


def test_describe_through_an_openai_server(blip: str, capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    answer = "A green leaf is inside a white circle, in a summer scene."
    script = Script(replies=[(200, answer, 0.0)])
    with serve(script) as url:
        args = ["describe", MEADOW, LOGO, "--backend", "openai", "--base-url", url, "--model", "qwen3-0.6b",
                "--captioner", blip, "--context", "Our summer trip", "--device", "cpu"]
        assert main([*args, "--grounding", "off"]) == 0
        off = capsys.readouterr().out.splitlines()
        assert main(args) == 0
        strict = capsys.readouterr().out.splitlines()
    assert off == [f"{MEADOW}: {answer}", f"{LOGO}: {answer}"]
    # The guard: the logo's text and the page context support the answer; the random-weight
    # captioner's meadow caption does not, so the meadow gets its caption back.
    assert strict[1] == f"{LOGO}: {answer}" and strict[0] != off[0] and strict[0].startswith(f"{MEADOW}: ")
    assert all(r["body"]["model"] == "qwen3-0.6b" for r in script.requests)
    assert any("Our summer trip" in r["body"]["messages"][-1]["content"] for r in script.requests)


def test_describe_json_and_none_backend(blip: str, capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["describe", LOGO, "--backend", "none", "--captioner", blip, "--format", "json"]) == 0
    [record] = json.loads(capsys.readouterr().out)
    assert record["text"] == "A green leaf inside a white circle." and record["backend"] == "none"
    assert set(record) >= {"image", "text", "caption", "backend", "captioner", "writer_model", "prompt_version", "lint", "needs_review", "timings"}


def test_broken_image_is_one_line_and_exit_one(blip: str, capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open("empty.png", "wb"):
        pass
    assert main(["describe", "empty.png", LOGO, "--backend", "none", "--captioner", blip]) == 1
    out, err = capsys.readouterr()
    assert err == "empty.png: empty file, not an image\n" and out.startswith(f"{LOGO}: ")


def test_unusable_backend_exits_two(blip: str, capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["describe", MEADOW, "--backend", "none", "--captioner", os.path.join(str(tmp_path), "missing")]) == 2
    assert capsys.readouterr().err.startswith("alttext: error: the captioner model ")


def test_describe_in_process(blip: str, capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.models import tiny_qwen3

    monkeypatch.chdir(tmp_path_factory.mktemp("site"))
    qwen3 = QWEN3
    writer = tiny_qwen3(str(tmp_path_factory.mktemp("qwen")), qwen3)
    rc = main(["describe", MEADOW, "--backend", "transformers", "--model", writer, "--captioner", blip, "--device", "cpu", "--format", "json"])
    [record] = json.loads(capsys.readouterr().out)
    assert rc == 0 and record["backend"] == "transformers" and record["writer_model"] == writer
    assert record["text"] and record["caption"]  # random weights: mechanics only
