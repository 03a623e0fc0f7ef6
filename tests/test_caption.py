from __future__ import annotations

import os

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

from alttext.pipeline.caption import Captioner, ModelLoadError, pick_device, precision_dtype, use_fused_vision_attention  # noqa: E402
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


def test_decoding_on_shared_embeddings_is_blips_own_generate(blip: str) -> None:
    import torch

    captioner = Captioner(blip, device="cpu", batch_size=2, max_new_tokens=8)
    images = _images()
    captioner.load()
    with torch.inference_mode():
        for prompt in (None, "a picture of"):
            kwargs: dict[str, object] = {"images": images, "return_tensors": "pt"}
            if prompt:
                kwargs["text"] = [prompt] * len(images)
            inputs = captioner._processor(**kwargs)
            ids = captioner._model.generate(**inputs, max_new_tokens=8, do_sample=False, num_beams=1)
            want = [" ".join(t.split()) for t in captioner._processor.batch_decode(ids, skip_special_tokens=True)]
            want = [t[len(prompt):].strip() if prompt and t.startswith(prompt) else t for t in want]
            assert captioner.caption(images, prompt=prompt) == want


def test_caption_pair_is_both_captions_with_one_vision_pass(blip: str, monkeypatch: pytest.MonkeyPatch) -> None:
    captioner = Captioner(blip, device="cpu", batch_size=2, max_new_tokens=6)
    images = _images()
    expected = list(zip(captioner.caption(images), captioner.caption(images, prompt="a picture of")))
    calls: list[int] = []
    vision = captioner._model.vision_model.forward

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return vision(*args, **kwargs)

    monkeypatch.setattr(captioner._model.vision_model, "forward", counted)
    assert captioner.caption_pair(images, "a picture of") == expected
    assert len(calls) == 2  # two batches (3 images, batch_size 2), each encoded once for both captions


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


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        pytest.param("fpu sse2 avx2 avx512f avx512_vnni avx512_bf16", True, id="avx512-bf16"),
        pytest.param("fpu sse2 avx2 amx_tile amx_bf16", True, id="amx"),
        pytest.param("fpu sse2 avx2 avx512f", False, id="no-bf16"),
    ],
)
def test_native_bf16_is_read_from_cpu_flags(tmp_path: os.PathLike[str], flags: str, expected: bool) -> None:
    from alttext.pipeline.caption import cpu_has_bf16

    info = os.path.join(str(tmp_path), "cpuinfo")
    with open(info, "w", encoding="ascii") as f:
        f.write(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n")
    assert cpu_has_bf16(info) is expected
    assert cpu_has_bf16(os.path.join(str(tmp_path), "missing")) is False


def test_precision_is_the_models_dtype_and_the_pixels_follow(blip: str) -> None:
    import torch

    assert precision_dtype("auto", "cuda") == torch.float16 and precision_dtype("auto", "cpu") == torch.float32
    assert precision_dtype("fp32", "cuda") == torch.float32 and precision_dtype("bf16", "cpu") == torch.bfloat16
    captioner = Captioner(blip, device="cpu", batch_size=2, max_new_tokens=6, precision="bf16")
    pairs = captioner.caption_pair(_images(), "a picture of")
    assert captioner._model.dtype == torch.bfloat16 and len(pairs) == 3
    assert all(word in set(BLIP_VOCAB) for pair in pairs for caption in pair for word in caption.split())


def test_the_second_caption_only_where_wanted(blip: str) -> None:
    captioner = Captioner(blip, device="cpu", batch_size=2, max_new_tokens=6)
    images = _images()
    both = captioner.caption_pair(images, "a picture of")
    asked: list[tuple[int, str]] = []

    def wanted(k: int, caption: str) -> bool:
        asked.append((k, caption))
        return k != 1

    pairs = captioner.caption_pair(images, "a picture of", wanted=wanted)
    assert asked == [(k, plain) for k, (plain, _) in enumerate(both)]  # every image, with its own plain caption
    assert [p[0] for p in pairs] == [b[0] for b in both]
    assert pairs[1][1] is None and (pairs[0][1], pairs[2][1]) == (both[0][1], both[2][1])


def test_fused_vision_attention_is_blips_own_arithmetic(blip: str) -> None:
    import torch
    from transformers.models.blip.modeling_blip import BlipAttention

    captioner = Captioner(blip, device="cpu")
    captioner.load()
    layers = [m for m in captioner._model.modules() if type(m) is BlipAttention]
    assert layers and all("forward" in vars(m) for m in layers)  # every vision attention layer was given SDPA
    torch.manual_seed(0)
    hidden = torch.randn(3, 17, captioner._model.config.vision_config.hidden_size)
    with torch.inference_mode():
        for layer in layers:
            fused, weights = layer(hidden)
            own, _ = BlipAttention.forward(layer, hidden)  # BLIP's own, unchanged
            assert weights is None and fused.shape == own.shape
            torch.testing.assert_close(fused, own, rtol=1e-5, atol=1e-6)
    assert use_fused_vision_attention(torch.nn.Linear(2, 2)) == 0  # nothing of BLIP's shape: nothing changes


def test_both_captions_read_one_computation_of_the_cross_attention(blip: str) -> None:
    captioner = Captioner(blip, device="cpu", batch_size=2, max_new_tokens=6)
    images = _images()
    expected = list(zip(captioner.caption(images), captioner.caption(images, prompt="a picture of")))
    calls: list[int] = []
    layers = [layer.crossattention.self for layer in captioner._model.text_decoder.bert.encoder.layer]
    hooks = [attention.key.register_forward_hook(lambda *_: calls.append(1)) for attention in layers]
    try:
        assert captioner.caption_pair(images, "a picture of") == expected
        assert len(calls) == 2 * len(layers)  # once per batch and layer, for both captions
        calls.clear()
        pairs = captioner.caption_pair(images, "a picture of", wanted=lambda k, text: k == 1)  # some rows of a batch
        assert [p[1] for p in pairs] == [None, expected[1][1], None] and len(calls) == 2 * len(layers)
    finally:
        for hook in hooks:
            hook.remove()
