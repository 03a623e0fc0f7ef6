"""The captioner on an OpenAI-compatible vision server, against a real local server on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import io
import os
import socket
from typing import Any

import pytest

from alttext import messages
from alttext.pipeline.images import ImageError, load_image_file
from alttext.model import Settings
from alttext.pipeline.cache import fingerprint
from alttext.pipeline.captioner_openai import MAX_BYTES, MAX_SIDE, VISION_PROMPT, OpenAICaptioner, vision_settings
from alttext.pipeline.describe import describe
from alttext.pipeline.writer_openai import WriterError
from tests.conftest import FIXTURES
from tests.fixing import EchoWriter
from tests.openai_server import Script, decode, serve

IMG = os.path.join(FIXTURES, "site", "img")
MEADOW, CHART, LOGO = os.path.join(IMG, "meadow.jpg"), os.path.join(IMG, "bar-chart.png"), os.path.join(IMG, "logo.svg")
BICYCLE = "A red bicycle leans against a white wall."
VISION = "qwen2.5-vl"


def _captioner(url: str, model: str = VISION, **kw: Any) -> OpenAICaptioner:
    size = {k: kw.pop(k) for k in ("max_side", "max_bytes") if k in kw}
    return OpenAICaptioner(vision_settings(url, model, **kw), key="k", **size)


def _picture(path: str) -> Any:
    return load_image_file(path).image


def _noise(width: int, height: int) -> Any:
    from PIL import Image

    return Image.merge("RGB", [Image.effect_noise((width, height), 90) for _ in range(3)])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: nothing listens there


def test_captions_through_a_vision_server() -> None:
    script = Script(image_replies=[(200, "The image shows a red bicycle leaning against a white wall.", 0.0)], models=[VISION])
    with serve(script) as url:
        captions = _captioner(url + "/v1/").caption([_picture(MEADOW), _picture(CHART)])
    assert captions == ["A red bicycle leaning against a white wall."] * 2  # cleaned: no "The image shows"
    assert len(script.requests) == 2 and script.paths == ["/v1/chat/completions"] * 2
    for request in script.requests:
        body = request["body"]
        [message] = body["messages"]
        assert message["role"] == "user" and message["content"][1] == {"type": "text", "text": VISION_PROMPT}
        assert message["content"][0]["type"] == "image_url" and message["content"][0]["image_url"]["url"].startswith("data:image/")
        assert (body["model"], body["temperature"], body["max_tokens"]) == (VISION, 0.0, 120)
        assert request["auth"] == "Bearer k" and len(request["images"]) == 1
    from PIL import Image

    sizes = sorted(Image.open(io.BytesIO(decode(u)[1])).size for u in script.images)
    assert sizes == [(160, 120), (160, 120)]  # small pictures go as they are


def test_the_vision_prompt_asks_for_visual_facts_only() -> None:
    prompt = VISION_PROMPT.lower()
    for wanted in ("objects", "colours", "where they are", "text in it, quoted exactly", "kind of image"):
        assert wanted in prompt
    for refused in ("no style", "interpretation", "no names"):
        assert refused in prompt


def test_a_list_answer_becomes_sentences() -> None:
    script = Script(image_replies=[(200, "- a red bicycle\n- a white wall behind it", 0.0)], models=[VISION])
    with serve(script) as url:
        assert _captioner(url).caption([_picture(MEADOW)]) == ["A red bicycle. a white wall behind it."]


def test_one_request_per_picture_and_no_second_caption() -> None:
    script = Script(image_replies=[(200, BICYCLE, 0.0)], models=[VISION])
    with serve(script) as url:
        pairs = _captioner(url).caption_pair([_picture(MEADOW)], "a picture of", wanted=lambda k, text: True)
    assert pairs == [(BICYCLE, None)] and len(script.requests) == 1


def test_concurrency_requests_in_flight() -> None:
    script = Script(image_replies=[(200, BICYCLE, 0.5)], models=[VISION])
    with serve(script) as url:
        captioner = _captioner(url, concurrency=3)
        assert captioner.batch_size == 8  # a batch keeps every slot busy
        assert captioner.caption([_picture(MEADOW)] * 7) == [BICYCLE] * 7
    assert script.most_in_flight == 3


def test_a_big_picture_arrives_shrunk_within_the_bounds() -> None:
    from PIL import Image

    script = Script(image_replies=[(200, BICYCLE, 0.0)], models=[VISION])
    with serve(script) as url:
        _captioner(url).caption([_noise(3000, 2000)])
        _captioner(url, max_side=512, max_bytes=40_000).caption([_noise(1600, 1200)])
    (kind, data), (small_kind, small) = (decode(u) for u in script.images)
    picture = Image.open(io.BytesIO(data))
    assert kind == "image/jpeg" and picture.format == "JPEG"  # a photo (here, noise) goes as JPEG
    assert picture.size == (MAX_SIDE, 683) and len(data) <= MAX_BYTES  # the longest side, the shape kept
    assert small_kind == "image/jpeg" and max(Image.open(io.BytesIO(small)).size) <= 512 and len(small) <= 40_000


def test_a_flat_picture_goes_as_lossless_png() -> None:
    from PIL import Image, ImageDraw

    shot = Image.new("RGBA", (1600, 400), (0, 0, 0, 0))  # a transparent screenshot-like drawing
    draw = ImageDraw.Draw(shot)
    draw.rectangle((100, 100, 700, 300), fill=(20, 90, 200, 255))
    draw.text((120, 150), "Delete project?", fill=(255, 255, 255, 255))
    script = Script(image_replies=[(200, BICYCLE, 0.0)], models=[VISION])
    with serve(script) as url:
        _captioner(url).caption([shot])
    [(kind, data)] = [decode(u) for u in script.images]
    sent = Image.open(io.BytesIO(data))
    assert kind == "image/png" and sent.size == (1024, 256) and sent.mode == "RGB"
    assert sent.getpixel((5, 5)) == (255, 255, 255)  # transparency laid on white, as a page shows it


def test_svg_is_refused_with_its_reason_and_nothing_is_sent() -> None:
    script = Script(image_replies=[(200, BICYCLE, 0.0)], models=[VISION])
    with serve(script) as url:
        captioner = _captioner(url)
        for svg in (LOGO, load_image_file(LOGO)):
            with pytest.raises(ImageError) as info:
                captioner.caption([_picture(MEADOW), svg])
            assert str(info.value) == messages.CAPTIONER_SVG.format(name=LOGO)
    assert str(info.value) == f"{LOGO}: an SVG is not sent to the captioner: alttext describes it from its own <title>, <desc> and <text>"
    assert script.requests == []


def test_image_files_are_read_for_the_caller() -> None:
    script = Script(image_replies=[(200, BICYCLE, 0.0)], models=[VISION])
    with serve(script) as url:
        assert _captioner(url).caption([MEADOW]) == [BICYCLE]
    assert len(script.images) == 1


# Errors -----------------------------------------------------------------------------------------


def _error(script: Script, url_suffix: str = "", **kw: Any) -> tuple[str, str]:
    with serve(script) as url:
        with pytest.raises(WriterError) as info:
            _captioner(url + url_suffix, retries=0, **kw).caption([_picture(MEADOW)])
    return str(info.value), url


def test_refused_connection() -> None:
    port = _free_port()
    with pytest.raises(WriterError, match=rf"^alttext: error: cannot connect to http://127\.0\.0\.1:{port}/v1: is the server running\?"):
        _captioner(f"http://127.0.0.1:{port}", retries=0).caption([_picture(MEADOW)])


def test_unauthorized() -> None:
    text, url = _error(Script(image_replies=[(401, "bad key", 0.0)], models=[VISION]))
    assert text == f"alttext: error: {url}/v1 refused the API key (401); set ALTTEXT_API_KEY or OPENAI_API_KEY"


def test_wrong_path_suggests_the_v1_base_url() -> None:
    text, url = _error(Script(image_replies=[(404, "no route", 0.0)], models=[]), "/api")
    assert text == f"alttext: error: {url}/api/v1/chat/completions was not found (404); give the server's OpenAI base URL, which usually ends in /v1"


def test_unknown_model_lists_what_the_server_offers() -> None:
    text, url = _error(Script(image_replies=[(404, "model 'llava' not found", 0.0)], models=["qwen2.5vl:7b", "moondream:latest"]), model="llava")
    assert text == f"alttext: error: {url}/v1 has no model 'llava'; it offers: moondream:latest, qwen2.5vl:7b"


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        pytest.param(500, "image input is not supported - hint: if this is unexpected, you may need to provide the mmproj", id="llama.cpp"),
        pytest.param(400, "qwen3-0.6b is not a multimodal model", id="vllm"),
        pytest.param(400, "Model does not support images. Please use a model that does.", id="lm-studio"),
        pytest.param(400, "Invalid content type. image_url is only supported by certain models.", id="openai"),
        pytest.param(500, "this model is missing data required for image input", id="ollama"),
    ],
)
def test_a_model_without_image_input_is_named(status: int, answer: str) -> None:
    text, url = _error(Script(image_replies=[(status, answer, 0.0)], models=["qwen3-0.6b"]), model="qwen3-0.6b")
    assert text == messages.CAPTIONER_NO_IMAGES.format(model="qwen3-0.6b", base_url=f"{url}/v1")
    assert text == (f"alttext: error: the model 'qwen3-0.6b' on {url}/v1 does not accept images; set captioner_model to a vision model "
                    "the server runs (Qwen2.5-VL, qwen2.5vl, llava, moondream; llama.cpp needs --mmproj)")


def test_another_bad_request_is_not_taken_for_a_model_without_images() -> None:
    text, url = _error(Script(image_replies=[(400, "cannot identify image file", 0.0)], models=[VISION]))
    assert text == f"alttext: error: {url}/v1 failed: Error code: 400 - cannot identify image file"


def test_the_writer_is_never_told_its_model_takes_no_images() -> None:
    # The same answer to a request without pictures is a plain failure: only pictures make it that.
    script = Script(replies=[(400, "Model does not support images.", 0.0)])
    with serve(script) as url:
        from alttext.pipeline.writer_openai import OpenAISettings, OpenAIWriter

        with pytest.raises(WriterError) as info:
            OpenAIWriter(OpenAISettings(base_url=url, model="qwen3-0.6b", retries=0), key="k").complete([{"role": "user", "content": "hi"}])
    assert str(info.value).startswith(f"alttext: error: {url}/v1 failed: ")


def test_timeout() -> None:
    text, url = _error(Script(image_replies=[(200, "late", 1.0)], models=[VISION]), timeout=0.2)
    assert text == f"alttext: error: {url}/v1 did not answer within 0.2 s; raise `timeout` or lower `concurrency`"


# In the pipeline --------------------------------------------------------------------------------

SETTINGS = dataclasses.replace(Settings(), captioner_backend="openai", backend="openai", length=60, ocr="off", cache=False)


def test_its_caption_is_the_evidence_and_the_guard_checks_against_it() -> None:
    # One server for both stages: the vision model captions and writes.
    script = Script(image_replies=[(200, f"The image shows {BICYCLE[0].lower()}{BICYCLE[1:]}", 0.0)],
                    replies=[(200, f"{BICYCLE} A man in a blue coat rides past it.", 0.0)], models=[VISION])
    with serve(script) as url:
        settings = dataclasses.replace(SETTINGS, base_url=url, writer_model=VISION, grounding="strict")
        [d] = describe([MEADOW], None, settings)
    assert (d.caption, d.captioner) == (BICYCLE, f"openai:{VISION} (vision-facts/1)")
    assert f"Caption: {BICYCLE}" in d.evidence
    # The sentence the caption does not support is dropped; the one it supports stays.
    assert d.text == BICYCLE and d.needs_review and any("A man in a blue coat" in s for s in d.dropped)
    written = [r for r in script.requests if not r["images"]]
    assert written and all(f"Caption: {BICYCLE}" in r["body"]["messages"][-1]["content"] for r in written)
    assert all(r["body"]["model"] == VISION for r in script.requests) and len(script.with_images()) == 1


def test_each_server_gets_only_its_own_requests() -> None:
    writer_script = Script(replies=[(200, BICYCLE, 0.0)], models=["qwen3-0.6b"])
    vision_script = Script(image_replies=[(200, BICYCLE, 0.0)], replies=[(500, "not for the writer", 0.0)], models=["moondream"])
    bystander = Script()  # a server nobody configured
    with serve(writer_script) as writer_url, serve(vision_script) as vision_url, serve(bystander):
        settings = dataclasses.replace(SETTINGS, base_url=writer_url, writer_model="qwen3-0.6b", captioner_base_url=vision_url,
                                       captioner_model="moondream", grounding="off")
        results = describe([MEADOW, CHART], None, settings)
    assert [d.text for d in results] == [BICYCLE, BICYCLE]
    assert len(vision_script.requests) == 2 and all(r["images"] and r["body"]["model"] == "moondream" for r in vision_script.requests)
    assert len(writer_script.requests) == 2 and all(not r["images"] and r["body"]["model"] == "qwen3-0.6b" for r in writer_script.requests)
    assert {r["host"] for r in vision_script.requests} == {vision_url.split("//")[1]}
    assert {r["host"] for r in writer_script.requests} == {writer_url.split("//")[1]}
    assert bystander.requests == [] and bystander.paths == []


@pytest.mark.parametrize("change", [pytest.param({"captioner_backend": "none"}, id="backend-none"), pytest.param({"captioner": "none"}, id="captioner-none")])
def test_without_a_captioner_no_request_carries_a_picture(change: dict[str, str]) -> None:
    script = Script(replies=[(200, "A chart with four bars.", 0.0)], image_replies=[(500, "no pictures here", 0.0)])
    with serve(script) as url:
        results = describe([MEADOW, LOGO], None, dataclasses.replace(SETTINGS, base_url=url, writer_model="qwen3-0.6b", grounding="off", **change))
    assert [d.captioner for d in results] == ["none", "none"] and results[1].text == "A chart with four bars."
    assert script.requests and script.images == []  # the logo's text was written from; nothing carried a picture


def test_a_passed_captioner_is_used_and_the_server_is_not() -> None:
    script = Script(image_replies=[(500, "not asked", 0.0)])
    from tests.fixing import FixedCaptioner

    with serve(script) as url:
        [d] = describe([MEADOW], None, dataclasses.replace(SETTINGS, base_url=url, grounding="off"), captioner=FixedCaptioner(),
                       writer=EchoWriter())
    assert d.text == "A dog running on the grass." and script.requests == []


def test_cached_descriptions_do_not_mix_captioners() -> None:
    def key(**change: Any) -> str:
        return fingerprint(dataclasses.replace(Settings(), **change), "en", [])

    blip, none, server = key(), key(captioner_backend="none"), key(captioner_backend="openai", captioner_model="llava")
    assert len({blip, none, server, key(captioner_backend="openai", captioner_model="moondream")}) == 4
    assert key(captioner="none") == none  # the older spelling is the same backend
    # The same model gives the same captions wherever it is served (shards sharing one cache).
    assert server == key(captioner_backend="openai", captioner_model="llava", captioner_base_url="http://other:8000/v1")
    # A captioner model that follows the writer's is the writer's model.
    assert key(captioner_backend="openai", writer_model="llava") == key(captioner_backend="openai", writer_model="llava", captioner_model="llava")


# The page that documents it ---------------------------------------------------------------------


def _doc() -> str:
    from tests.conftest import REPO

    with open(os.path.join(REPO, "docs", "backends.md"), encoding="utf-8") as f:
        return f.read()


def test_the_docs_quote_the_real_prompt_and_messages() -> None:
    import re

    text = _doc()
    assert f"> {VISION_PROMPT}\n" in text
    [block] = re.findall(r"## Errors\n.*?```\n(.*?)```", text, re.S)
    templates = ("WRITER_CONNECT", "WRITER_UNAUTHORIZED", "WRITER_NOT_FOUND", "WRITER_UNKNOWN_MODEL", "CAPTIONER_NO_IMAGES", "WRITER_TIMEOUT")
    lines = block.splitlines()
    assert len(lines) == len(templates)
    for line, name in zip(lines, templates):
        parts = re.split(r"\{[a-z_]+(?:![a-z])?(?::[^}]*)?\}", getattr(messages, name))
        assert re.fullmatch(".+".join(re.escape(p) for p in parts), line), line


def test_the_docs_configurations_load(tmp_path: os.PathLike[str]) -> None:
    import re

    from alttext.config import load_settings
    from alttext.pipeline.backends import captioner_backend, captioner_base_url, captioner_model

    blocks = re.findall(r"```toml\n(.*?)```", _doc(), re.S)
    loaded = []
    for k, block in enumerate(blocks):
        os.makedirs(os.path.join(str(tmp_path), str(k)))
        path = os.path.join(str(tmp_path), str(k), "pyproject.toml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(block)
        loaded.append(load_settings({}, config_path=path, environ={}))
    one, two = loaded
    assert (captioner_backend(one), captioner_base_url(one), captioner_model(one)) == ("openai", "http://gpu:8000/v1", "Qwen/Qwen2.5-VL-7B-Instruct")
    assert (captioner_base_url(two), captioner_model(two), two.base_url) == ("http://localhost:11434/v1", "moondream", "http://gpu:8000/v1")
