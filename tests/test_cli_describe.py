from __future__ import annotations

import json
import os
import shutil

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
    assert script.images == [] and not any(r["images"] for r in script.requests)  # BLIP captions in process: no picture is sent


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


# The captioner on a vision server (--captioner-backend openai) ------------------------------------

VISION = "qwen2.5-vl"
BICYCLE = "A red bicycle leans against a white wall."


def test_describe_with_one_server_for_both_stages(capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    script = Script(image_replies=[(200, f"The image shows {BICYCLE.lower()}", 0.0)], replies=[(200, BICYCLE, 0.0)], models=[VISION])
    with serve(script) as url:
        assert main(["describe", MEADOW, "--captioner-backend", "openai", "--backend", "openai", "--base-url", url, "--model", VISION,
                     "--ocr", "off", "--format", "json"]) == 0
    [record] = json.loads(capsys.readouterr().out)
    assert (record["text"], record["caption"], record["captioner"]) == (BICYCLE, BICYCLE, f"openai:{VISION} (vision-facts/1)")
    assert [bool(r["images"]) for r in script.requests] == [True, False]  # the caption, then the writer
    assert all(r["body"]["model"] == VISION for r in script.requests)


def test_describe_with_two_servers(capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    writer = Script(replies=[(200, BICYCLE, 0.0)])
    vision = Script(image_replies=[(200, BICYCLE, 0.0)], models=["moondream"])
    with serve(writer) as writer_url, serve(vision) as vision_url:
        assert main(["describe", MEADOW, "--captioner-backend", "openai", "--captioner-base-url", vision_url, "--captioner-model", "moondream",
                     "--backend", "openai", "--base-url", writer_url, "--model", "qwen3-0.6b", "--ocr", "off"]) == 0
    assert capsys.readouterr().out == f"{MEADOW}: {BICYCLE}\n"
    assert [r["body"]["model"] for r in vision.requests] == ["moondream"] and vision.with_images() == vision.requests
    assert [r["body"]["model"] for r in writer.requests] == ["qwen3-0.6b"] and writer.with_images() == []


def test_a_captioner_model_without_images_exits_two(capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    script = Script(image_replies=[(400, "qwen3-0.6b is not a multimodal model", 0.0)])
    with serve(script) as url:
        assert main(["describe", MEADOW, "--captioner-backend", "openai", "--base-url", url, "--model", "qwen3-0.6b", "--backend", "none"]) == 2
    assert capsys.readouterr().err == (
        f"alttext: error: the model 'qwen3-0.6b' on {url}/v1 does not accept images; set captioner_model to a vision model the server "
        "runs (Qwen2.5-VL, qwen2.5vl, llava, moondream; llama.cpp needs --mmproj)\n")


def _site(root: str) -> None:
    os.makedirs(os.path.join(root, "img"))
    shutil.copy(MEADOW, os.path.join(root, "img", "bike.jpg"))
    shutil.copy(LOGO, os.path.join(root, "img", "logo.svg"))
    with open(os.path.join(root, "post.md"), "wb") as f:
        f.write(b"# Rides\n\n![](img/bike.jpg)\n\n![](img/logo.svg)\n")


def test_fix_with_a_vision_server(capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _site(str(tmp_path))
    script = Script(image_replies=[(200, BICYCLE, 0.0)], replies=[(200, "A green leaf inside a white circle.", 0.0)], models=[VISION])
    with serve(script) as url:
        rc = main(["fix", ".", "--captioner-backend", "openai", "--captioner-base-url", url, "--captioner-model", VISION, "--backend", "none",
                   "--ocr", "off", "--no-cache"])
    out, err = capsys.readouterr()
    assert rc == 1 and "Rewriting post.md" in err.splitlines()
    with open("post.md", "rb") as f:  # the composed alt text: the vision model's caption, and the SVG's own text
        assert f.read() == f"# Rides\n\n![{BICYCLE}](img/bike.jpg)\n\n![A green leaf inside a white circle.](img/logo.svg)\n".encode()
    assert len(script.requests) == 1 and len(script.images) == 1  # the SVG is not sent: it is read from its text


def test_fix_with_captioner_none(capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _site(str(tmp_path))
    script = Script(replies=[(200, "A green leaf is inside a white circle.", 0.0)])
    with serve(script) as url:
        rc = main(["fix", ".", "--captioner", "none", "--backend", "openai", "--base-url", url, "--model", "qwen3-0.6b", "--ocr", "off",
                   "--no-cache"])
    out, err = capsys.readouterr()
    assert rc == 1 and "Rewriting post.md" in err.splitlines()
    with open("post.md", "rb") as f:  # the photo has no evidence without a caption: it is left for a person
        assert f.read() == b"# Rides\n\n![](img/bike.jpg)\n\n![A green leaf is inside a white circle.](img/logo.svg)\n"
    assert script.requests and script.images == []


def test_models_downloads_no_blip_for_a_captioner_on_a_server(capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from alttext.pipeline import models

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(models, "pull", lambda model: (_ for _ in ()).throw(AssertionError(f"downloaded {model}")))
    with open(".alttext.toml", "w", encoding="utf-8") as f:
        f.write('base_url = "http://gpu:8000/v1"\ncaptioner_model = "Qwen/Qwen2.5-VL-7B-Instruct"\n')
    assert main(["models", "pull", "--captioner-backend", "openai", "--backend", "openai", "--model", "qwen3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["captioner  Qwen/Qwen2.5-VL-7B-Instruct  on the server http://gpu:8000/v1", "writer     qwen3  on the server http://gpu:8000/v1"]
    assert main(["models", "--captioner-backend", "none", "--backend", "none"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["ocr"]
