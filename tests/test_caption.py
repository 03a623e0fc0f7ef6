from __future__ import annotations

import os
from collections.abc import Callable

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

from alttext.pipeline import runtime  # noqa: E402
from alttext.pipeline.caption import Captioner  # noqa: E402
from alttext.pipeline.fast_path.blip_attention import use_fused_vision_attention, use_grouped_cross_attention  # noqa: E402
from alttext.pipeline.models import ModelLoadError  # noqa: E402
from alttext.pipeline.runtime import pick_device, precision_dtypes  # noqa: E402
from tests.helpers import packable  # noqa: E402
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

    captioner = Captioner(blip, device="cpu", batch_size=2, max_new_tokens=8, precision="fp32")
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
    assert str(info.value) == (f"alttext: error: the captioner model {missing!r} was not found (no such file or folder); "
                               "set captioner to a model folder or a hub id")
    empty = os.path.join(str(tmp_path), "empty")
    os.makedirs(empty)
    with pytest.raises(ModelLoadError) as info:
        Captioner(empty, device="cpu").load()
    message = str(info.value)
    assert message.startswith(f"alttext: error: cannot load the captioner model {empty!r}: ")
    assert message.endswith(f'Download it ahead of time (alttext models pull, or hf download {empty}) or set captioner = "/path/to/local/folder" in [tool.alttext]')
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
    from alttext.pipeline.runtime import cpu_has_bf16

    info = os.path.join(str(tmp_path), "cpuinfo")
    with open(info, "w", encoding="ascii") as f:
        f.write(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n")
    assert cpu_has_bf16(info) is expected
    assert cpu_has_bf16(os.path.join(str(tmp_path), "missing")) is False


@pytest.mark.parametrize(
    ("precision", "device", "native", "expected"),
    [
        pytest.param("auto", "cpu", True, ("bfloat16", "float32"), id="auto-cpu-native-bf16"),
        pytest.param("auto", "cpu", False, ("float32", "float32"), id="auto-cpu-emulated-bf16"),
        pytest.param("auto", "cuda", True, ("float16", "float16"), id="auto-cuda"),
        pytest.param("auto", "mps", True, ("float32", "float32"), id="auto-mps"),
        pytest.param("fp32", "cpu", True, ("float32", "float32"), id="fp32"),
        pytest.param("bf16", "cpu", False, ("bfloat16", "bfloat16"), id="bf16"),
    ],
)
def test_precision_is_split_between_vision_encoder_and_text_decoder(
    monkeypatch: pytest.MonkeyPatch, precision: str, device: str, native: bool, expected: tuple[str, str]
) -> None:
    import torch

    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: native)
    assert precision_dtypes(precision, device) == tuple(getattr(torch, name) for name in expected)


def _dtypes(module: object) -> set[object]:
    return {p.dtype for p in module.parameters()}  # type: ignore[attr-defined]


@pytest.mark.parametrize("precision", ["bf16", "auto"])
def test_each_part_loads_in_its_precision_and_the_pixels_and_embeddings_follow(
    blip: str, monkeypatch: pytest.MonkeyPatch, precision: str
) -> None:
    import torch

    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: True)
    captioner = Captioner(blip, device="cpu", batch_size=2, max_new_tokens=6, precision=precision)
    captioner.load()
    text = torch.bfloat16 if precision == "bf16" else torch.float32
    assert _dtypes(captioner._model.vision_model) == {torch.bfloat16} and _dtypes(captioner._model.text_decoder) == {text}
    seen: list[object] = []
    decode = captioner._decode
    monkeypatch.setattr(captioner, "_decode", lambda embeds, *a: seen.append(embeds.dtype) or decode(embeds, *a))
    pairs = captioner.caption_pair(_images(), "a picture of")
    assert seen == [text, text] and len(pairs) == 3  # the decoder gets embeddings in its own dtype
    assert all(word in set(BLIP_VOCAB) for pair in pairs for caption in pair for word in caption.split())


def test_a_bf16_vision_encoder_gives_blips_own_captions(blip: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The split captioner is still BLIP: its own generate() runs on the model as loaded (the
    vision encoder takes fp32 pixels and hands fp32 embeddings to the decoder) and writes the
    same captions."""
    import torch

    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: True)
    captioner = Captioner(blip, device="cpu", batch_size=2, max_new_tokens=8)
    images = _images()
    captioner.load()
    model = captioner._model
    assert _dtypes(model.vision_model) == {torch.bfloat16} and _dtypes(model.text_decoder) == {torch.float32}
    with torch.inference_mode():
        pixels = captioner._processor(images=images, return_tensors="pt")["pixel_values"]
        assert pixels.dtype == torch.float32 and model.vision_model(pixel_values=pixels)[0].dtype == torch.float32
        for prompt in (None, "a picture of"):
            kwargs: dict[str, object] = {"images": images, "return_tensors": "pt"}
            if prompt:
                kwargs["text"] = [prompt] * len(images)
            ids = model.generate(**captioner._processor(**kwargs), max_new_tokens=8, do_sample=False, num_beams=1)
            want = [" ".join(t.split()) for t in captioner._processor.batch_decode(ids, skip_special_tokens=True)]
            want = [t[len(prompt):].strip() if prompt and t.startswith(prompt) else t for t in want]
            assert captioner.caption(images, prompt=prompt) == want


def test_the_second_caption_only_where_wanted(blip: str) -> None:
    captioner = Captioner(blip, device="cpu", batch_size=2, max_new_tokens=6)
    images = _images()
    both = captioner.caption_pair(images, "a picture of")
    asked: list[tuple[int, str]] = []

    def wanted(k: int, caption: str) -> bool:
        asked.append((k, caption))
        return k != 1

    pairs = captioner.caption_pair(images, "a picture of", wanted=wanted)
    assert sorted(asked) == [(k, plain) for k, (plain, _) in enumerate(both)]  # every image once, with its own plain caption
    assert [p[0] for p in pairs] == [b[0] for b in both]
    assert pairs[1][1] is None and (pairs[0][1], pairs[2][1]) == (both[0][1], both[2][1])


@pytest.mark.parametrize(("precision", "tolerance"), [("fp32", 1e-5), ("bf16", 2e-2)])
def test_fused_vision_attention_is_blips_own_arithmetic(blip: str, precision: str, tolerance: float) -> None:
    import torch
    from transformers.models.blip.modeling_blip import BlipAttention

    captioner = Captioner(blip, device="cpu", precision=precision)
    captioner.load()
    layers = [m for m in captioner._model.modules() if type(m) is BlipAttention]
    assert layers and all("forward" in vars(m) for m in layers)  # every vision attention layer was given SDPA
    torch.manual_seed(0)
    hidden = torch.randn(3, 17, captioner._model.config.vision_config.hidden_size, dtype=captioner._model.vision_model.dtype)
    with torch.inference_mode():
        for layer in layers:
            fused, weights = layer(hidden)
            own, _ = BlipAttention.forward(layer, hidden)  # BLIP's own, unchanged
            assert weights is None and fused.shape == own.shape and fused.dtype == hidden.dtype
            torch.testing.assert_close(fused, own, rtol=tolerance, atol=tolerance / 10)
    assert use_fused_vision_attention(torch.nn.Linear(2, 2)) == 0  # nothing of BLIP's shape: nothing changes


def test_the_captioner_loads_with_packed_linear_layers(blip: str) -> None:
    import torch

    if not packable():
        pytest.skip("this torch packs no linear layers")
    captioner = Captioner(blip, device="cpu")
    captioner.load()
    layers = [m for m in captioner._model.modules() if type(m) is torch.nn.Linear]
    packed = [m for m in layers if m.weight is None]
    assert packed and all(hasattr(m, "packed_weight") for m in packed)
    tied = captioner._model.text_decoder.get_output_embeddings()
    assert all(m.weight is None or m is tied for m in layers)  # released, but the tied output layer's
    assert tied.weight is captioner._model.text_decoder.get_input_embeddings().weight and hasattr(tied, "packed_weight")


def test_converting_a_part_releases_the_weights_it_replaces(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LayerNorm(8))
    module.register_buffer("steps", torch.arange(3))  # not floating point: stays as it is
    before = {name: t.clone() for name, t in module.state_dict().items()}
    replaced = [(p.data_ptr(), p.nbytes) for p in module.parameters()]
    dropped: list[tuple[int, int]] = []
    monkeypatch.setattr(runtime, "drop_pages", lambda address, size, files: dropped.append((address, size)))
    assert runtime.convert(module, torch.bfloat16) is module
    assert dropped == replaced  # every weight replaced, and nothing else, offered to drop_pages
    for name, tensor in module.state_dict().items():
        assert torch.equal(tensor, before[name].to(torch.bfloat16) if before[name].is_floating_point() else before[name])
    dropped.clear()
    runtime.convert(module, torch.bfloat16)  # already in that dtype: nothing replaced
    assert dropped == []


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


def _decoder_calls(captioner: Captioner, call: Callable[[], object]) -> tuple[object, int]:
    calls: list[int] = []
    hook = captioner._model.text_decoder.register_forward_hook(lambda *_: calls.append(1))
    try:
        return call(), len(calls)
    finally:
        hook.remove()


def test_both_captions_are_decoded_together_one_decoder_pass_per_step(blip: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers.models.blip.modeling_blip_text import BlipTextSelfAttention

    captioner = Captioner(blip, device="cpu", batch_size=3, max_new_tokens=6)
    images = _images()
    expected = list(zip(captioner.caption(images), captioner.caption(images, prompt="a picture of")))
    own, per_row = BlipTextSelfAttention.forward, []

    def counted(self: object, *args: object, **kwargs: object) -> object:
        if kwargs.get("encoder_hidden_states") is not None:
            per_row.append(1)  # cross-attention by BLIP's own code: keys and values read per row
        return own(self, *args, **kwargs)

    monkeypatch.setattr(BlipTextSelfAttention, "forward", counted)
    pairs, calls = _decoder_calls(captioner, lambda: captioner.caption_pair(images, "a picture of"))
    assert pairs == expected
    assert calls == 6 and not per_row  # one batch, six steps, both captions in each (one after the other: twelve)
    captioner._grouped = False  # a decoder whose cross-attention cannot be shared: each row computes its own
    assert captioner.caption_pair(images, "a picture of") == expected and per_row


def test_an_unwanted_second_caption_stops_when_the_first_ends(blip: str, monkeypatch: pytest.MonkeyPatch) -> None:
    captioner = Captioner(blip, device="cpu", batch_size=3, max_new_tokens=12)
    captioner.load()
    # The tiny model's plain caption says "red" at its third step, its second caption not in
    # twelve: with "red" as the end token, the first ends early and the second runs on.
    config = captioner._model.config.text_config
    monkeypatch.setattr(config, "sep_token_id", captioner._processor.tokenizer.convert_tokens_to_ids("red"))
    both, all_steps = _decoder_calls(captioner, lambda: captioner.caption_pair(_images(), "a picture of"))
    assert all(plain.endswith(" red") and second for plain, second in both) and all_steps == 12
    asked: list[tuple[int, str]] = []
    pairs, steps = _decoder_calls(captioner, lambda: captioner.caption_pair(_images(), "a picture of", wanted=lambda k, text: bool(asked.append((k, text)))))
    assert pairs == [(plain, None) for plain, _ in both] and sorted(asked) == [(k, plain) for k, (plain, _) in enumerate(both)]
    assert steps < all_steps  # the second captions stopped with the first


def test_each_steps_tokens_are_written_in_place_in_one_preallocated_cache(blip: str) -> None:
    captioner = Captioner(blip, device="cpu", batch_size=3, max_new_tokens=6)
    captioner.load()
    buffers: list[tuple[int, int]] = []

    def seen(module: object, args: object, kwargs: dict[str, object]) -> None:
        layer = kwargs["cache"].self_attention_cache.layers[0]  # type: ignore[attr-defined]
        if getattr(layer, "keys", None) is not None:
            buffers.append((layer.keys.data_ptr(), layer.keys.shape[2]))

    hook = captioner._model.text_decoder.register_forward_pre_hook(seen, with_kwargs=True)
    try:
        captioner.caption_pair(_images(), "a picture of")
    finally:
        hook.remove()
    width = len(captioner._processor.tokenizer("a picture of")["input_ids"]) - 1  # BOS and the prompt
    assert len(buffers) == 5 and set(buffers) == {(buffers[0][0], width + 6)}  # steps 2 to 6: the same buffer, sized once


def test_grouped_cross_attention_is_blips_own_arithmetic(blip: str) -> None:
    import torch
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache
    from transformers.models.blip.modeling_blip_text import BlipTextSelfAttention

    captioner = Captioner(blip, device="cpu")
    captioner.load()
    layers = [layer.crossattention.self for layer in captioner._model.text_decoder.bert.encoder.layer]
    assert layers and all("forward" in vars(m) for m in layers)  # every cross-attention layer takes grouped rows
    torch.manual_seed(0)
    images, group, width = 3, 2, captioner._model.config.text_config.hidden_size
    embeds = torch.randn(images, 5, captioner._model.config.vision_config.hidden_size)
    hidden = torch.randn(group * images, 4, width)  # row j * images + k: image k's j-th caption
    with torch.inference_mode():
        once = captioner._cross_attention(embeds)
        per_row = captioner._cross_attention(embeds.repeat(group, 1, 1))
        for index, layer in enumerate(layers):
            grouped, weights = layer(hidden, encoder_hidden_states=embeds, cache=EncoderDecoderCache(DynamicCache(), once))
            own, _ = BlipTextSelfAttention.forward(layer, hidden, encoder_hidden_states=embeds.repeat(group, 1, 1),
                                                   cache=EncoderDecoderCache(DynamicCache(), per_row))  # BLIP's own, a row per caption
            assert weights is None and index == layer.layer_idx
            torch.testing.assert_close(grouped, own, rtol=1e-5, atol=1e-6)
    assert use_grouped_cross_attention(torch.nn.Linear(2, 2)) == 0  # nothing of BLIP's shape: nothing changes
