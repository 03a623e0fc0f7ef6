from __future__ import annotations

import os

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

from alttext.pipeline.caption import Captioner, ModelLoadError, pick_device  # noqa: E402
from tests.models import BLIP_VOCAB, tiny_blip  # noqa: E402


@pytest.fixture(scope="module")
def blip(tmp_path_factory: pytest.TempPathFactory) -> str:
    return tiny_blip(str(tmp_path_factory.mktemp("blip")))


def _images() -> list[Image.Image]:
    return [Image.new("RGB", size, color) for size, color in [((40, 30), "red"), ((20, 50), "blue"), ((64, 64), "green")]]


def test_one_caption_per_image_in_order_whatever_the_batch(blip: str) -> None:
    singles = Captioner(blip, device="cpu", batch_size=1, max_new_tokens=6).caption(_images())
    batched = Captioner(blip, device="cpu", batch_size=2, max_new_tokens=6).caption(_images())
    assert len(singles) == 3 and singles == batched
    words = set(BLIP_VOCAB)
    assert all(word in words for caption in batched for word in caption.split())
    reversed_ = Captioner(blip, device="cpu", batch_size=3, max_new_tokens=6).caption(_images()[::-1])
    assert reversed_ == batched[::-1]


def test_greedy_is_repeatable_and_loads_once(blip: str) -> None:
    captioner = Captioner(blip, device="cpu", max_new_tokens=6)
    first = captioner.caption(_images()[:1])
    model = captioner._model
    assert captioner.caption(_images()[:1]) == first and captioner._model is model


def test_conditional_prompt_is_not_part_of_the_caption(blip: str) -> None:
    [text] = Captioner(blip, device="cpu", max_new_tokens=4).caption(_images()[:1], prompt="a picture of")
    assert not text.startswith("a picture of")


def test_empty_batch(blip: str) -> None:
    assert Captioner(blip, device="cpu").caption([]) == []


def test_missing_model_says_how_to_get_it(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = os.path.join(str(tmp_path), "no-such-model")
    with pytest.raises(ModelLoadError) as info:
        Captioner(missing, device="cpu").load()
    message = str(info.value)
    assert message.startswith(f"alttext: error: cannot load the captioner model {missing!r}: ")
    assert message.endswith(f'Download it ahead of time (huggingface-cli download {missing}) or set captioner = "/path/to/local/folder" in [tool.alttext]')
    assert "\n" not in message


@pytest.mark.parametrize(("cuda", "mps", "expected"), [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_device_auto(monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool, expected: str) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert pick_device("auto") == expected
    assert pick_device("cpu") == "cpu"
