"""The fast path (``alttext.pipeline.fast_path``) and the public path it falls back to (#25).

The captioner and the writer each check, at load, every library internal their fast path needs,
on a probe against the public computation. Here the public path runs on its own
(``fast_path=False``), and each internal is made unavailable, or made to give other numbers, as
a new torch or transformers could: the fallback must trigger, print exactly one warning line
(once per process), and give the public path's results. At the end, the parts that need no model
are checked against the public computation on their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

from alttext import messages  # noqa: E402
from alttext.pipeline import caption, models, writer_transformers  # noqa: E402
from alttext.pipeline.fast_path import blip_attention, decode_attention, int8, packing, pages  # noqa: E402
from alttext.pipeline.caption import Captioner  # noqa: E402
from alttext.pipeline.evidence import Evidence  # noqa: E402
from alttext.model import Context  # noqa: E402
from alttext.pipeline.prompt import build_messages  # noqa: E402
from alttext.pipeline.writer_transformers import TransformersWriter  # noqa: E402
from tests.conftest import QWEN3, REPO, require  # noqa: E402
from tests.helpers import packable  # noqa: E402
from tests.models import tiny_blip, tiny_qwen3  # noqa: E402


@pytest.fixture(scope="module")
def blip(tmp_path_factory: pytest.TempPathFactory) -> str:
    return tiny_blip(str(tmp_path_factory.mktemp("blip")))


@pytest.fixture(scope="module")
def qwen(tmp_path_factory: pytest.TempPathFactory) -> str:
    return tiny_qwen3(str(tmp_path_factory.mktemp("qwen3")), QWEN3)


@pytest.fixture(autouse=True)
def _warnings_not_yet_printed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts as a fresh process would: no fast-path warning printed yet, every check
    made again."""
    monkeypatch.setattr(models, "_WARNED", set())
    monkeypatch.setattr(packing, "_PACKABLE", [])
    monkeypatch.setattr(pages, "_DROPPING", [])
    yield


def _warning(role: str, *internals: str) -> str:
    import torch
    import transformers

    return messages.FAST_PATH_OFF.format(internals="; ".join(internals), role=role, torch=torch.__version__,
                                         transformers=transformers.__version__)


def _images() -> list[Image.Image]:
    return [Image.new("RGB", size, color) for size, color in [((40, 30), "red"), ((20, 50), "blue"), ((64, 64), "green")]]


def _conversations() -> list[list[dict[str, str]]]:
    captions = ["a dog on grass", "a red door in a white wall with a brass handle on the left side", "a cat"]
    return [build_messages(Evidence(captions=(c,)), Context(), "en") for c in captions]


def _captions(captioner: Captioner) -> tuple[list[str], list[str], list[tuple[str, str | None]]]:
    """Plain captions, captions continuing a prompt, and pairs where the second is wanted for all but one."""
    images = _images()
    return (captioner.caption(images), captioner.caption(images, prompt="a picture of"),
            captioner.caption_pair(images, "a picture of", wanted=lambda k, text: k != 1))


def _while_checking(monkeypatch: pytest.MonkeyPatch, cls: type, change: Callable[[pytest.MonkeyPatch], object]) -> None:
    """Make ``change`` while the fast path is checked, once the model is built: an internal that
    the fast path does not find, which the model's own construction still needs."""
    check = cls._use_fast_path  # type: ignore[attr-defined]

    def changed_then_checked(self: Any) -> list[str]:
        with pytest.MonkeyPatch.context() as during:
            change(during)
            return check(self)

    monkeypatch.setattr(cls, "_use_fast_path", changed_then_checked)


def _patched_layers(model: Any) -> list[str]:
    """The layers given another forward than their class's: attention layers, and packed linear ones."""
    return [name for name, module in model.named_modules() if "forward" in vars(module)]


# The public path on its own --------------------------------------------------------------------


def test_with_every_internal_there_the_fast_path_loads_without_a_word(blip: str, qwen: str, capsys: pytest.CaptureFixture[str]) -> None:
    captioner = Captioner(blip, device="cpu", max_new_tokens=6)
    writer = TransformersWriter(qwen, device="cpu", max_new_tokens=4)
    captioner.load()
    writer.load()
    assert captioner._fast and captioner._grouped and writer._fast
    assert writer._prompt_cache.separate_prefix()  # alttext's attention, on CPU
    assert capsys.readouterr().err == ""


def _count_generate(model: Any) -> list[dict[str, Any]]:
    """The arguments of each ``model.generate`` call from now on."""
    calls: list[dict[str, Any]] = []
    generate = model.generate

    def counted(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return generate(**kwargs)

    model.generate = counted
    return calls


def test_the_public_captioner_runs_alone_and_writes_the_fast_captions(blip: str, capsys: pytest.CaptureFixture[str]) -> None:
    public = Captioner(blip, device="cpu", batch_size=2, max_new_tokens=8, fast_path=False)
    public.load()
    assert not public._fast and not public._grouped and _patched_layers(public._model) == []  # BLIP's own code, every layer
    assert not any(hasattr(m, "packed_weight") for m in public._model.modules())
    calls = _count_generate(public._model)
    got = _captions(public)
    # Two batches for each caption call; caption_pair's second prompt runs for the wanted images only.
    assert len(calls) == 2 + 2 + 4 and all(c["do_sample"] is False and c["num_beams"] == 1 for c in calls)
    assert [len(c["pixel_values"]) for c in calls[-4:]] == [2, 1, 1, 1]  # image 1's second caption is not wanted
    fast = Captioner(blip, device="cpu", batch_size=2, max_new_tokens=8)
    assert got == _captions(fast) and fast._fast
    assert got[2][1][1] is None and all(isinstance(t, str) for t in got[0] + got[1])
    assert capsys.readouterr().err == ""  # the public path by choice is no warning


def _fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    """Writers in fp32, where greedy tokens of the two paths are expected to agree (bf16 rounds
    each path's arithmetic differently, and a near tie may fall either way)."""
    monkeypatch.setattr(writer_transformers, "cpu_has_bf16", lambda: False)


def test_the_public_writer_runs_alone_on_generate_with_a_static_cache(qwen: str, monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    _fp32(monkeypatch)
    public = TransformersWriter(qwen, device="cpu", batch_size=2, max_new_tokens=6, temperature=0, fast_path=False)
    public.load()
    assert not public._fast and public._model.config._attn_implementation == "sdpa"
    assert not any(hasattr(m, "packed_weight") for m in public._model.modules())
    calls = _count_generate(public._model)
    greedy = public.write(_conversations(), [1, 2, 3])
    assert len(calls) == 2 and all(c["cache_implementation"] == "static" and c["do_sample"] is False for c in calls)
    assert calls[0]["input_ids"].shape[0] == 2 and not calls[0]["attention_mask"][:, 0].all()  # a left-padded batch
    fast = TransformersWriter(qwen, device="cpu", batch_size=2, max_new_tokens=6, temperature=0)
    assert fast.write(_conversations(), [1, 2, 3]) == greedy and fast._fast
    # Sampling: the settings the fast path uses, seeded per batch.
    sampled = TransformersWriter(qwen, device="cpu", batch_size=2, max_new_tokens=6, fast_path=False)
    answers = sampled.write(_conversations(), [1, 2, 3])
    assert len(answers) == 3 and all(isinstance(a, str) for a in answers)
    assert sampled.write(_conversations(), [1, 2, 3]) == answers
    sampled.keep([0, 1])  # nothing to keep on the public path: a retry runs whole
    assert sampled._prompt_cache.kept == [] and sampled.write(_conversations(), [1, 2, 3]) == answers
    sampled.forget()
    assert capsys.readouterr().err == ""


def test_a_model_that_takes_no_static_cache_generates_with_its_default(qwen: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _fp32(monkeypatch)
    public = TransformersWriter(qwen, device="cpu", batch_size=3, max_new_tokens=6, temperature=0, fast_path=False)
    want = public.write(_conversations(), [1, 2, 3])
    calls: list[object] = []
    generate = public._model.generate

    def no_static(**kwargs: Any) -> Any:
        calls.append(kwargs.get("cache_implementation"))
        if "cache_implementation" in kwargs:
            raise ValueError("This model does not support `cache_implementation='static'`")
        return generate(**kwargs)

    public._model.generate = no_static
    assert public.write(_conversations(), [1, 2, 3]) == want and not public._static_cache
    assert public.write(_conversations(), [1, 2, 3]) == want
    assert calls == ["static", None, None]  # asked once


# The fallbacks ----------------------------------------------------------------------------------


def _no_grouped_cross_attention(monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers.models.blip import modeling_blip_text

    _while_checking(monkeypatch, Captioner, lambda during: during.delattr(modeling_blip_text, "BlipTextSelfAttention"))


def _no_static_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import cache_utils

    _while_checking(monkeypatch, Captioner, lambda during: during.delattr(cache_utils, "StaticCache"))


def _vision_attention_of_another_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """A BLIP whose vision attention computes something else than it did (the fields are all
    there, their meaning changed): the fused forward no longer matches it."""
    from transformers.models.blip.modeling_blip import BlipAttention

    own = BlipAttention.forward
    monkeypatch.setattr(BlipAttention, "forward", lambda self, hidden_states, **kwargs: (own(self, hidden_states, **kwargs)[0] * 0.5, None))


def _no_packing_op(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    if not packable():
        pytest.skip("this torch packs no linear layers here")
    monkeypatch.setattr(packing, "_PACKABLE", [])  # checked again, with the op gone

    def gone(*args: object) -> None:
        raise RuntimeError("No such operator mkldnn::_reorder_linear_weight")

    monkeypatch.setattr(torch.ops.mkldnn, "_reorder_linear_weight", gone)


def _no_page_dropping(monkeypatch: pytest.MonkeyPatch) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("pages are dropped on Linux only")
    monkeypatch.setattr(pages, "_madvise_dontneed", lambda address, size: False)


CAPTIONER_FALLBACKS = [
    pytest.param(_no_grouped_cross_attention, [blip_attention.GROUPED_CROSS_ATTENTION], True, id="no-BlipTextSelfAttention"),
    pytest.param(_no_static_cache, [caption.DECODE_LOOP], False, id="no-StaticCache"),
    pytest.param(_vision_attention_of_another_kind, [blip_attention.VISION_ATTENTION], True, id="BlipAttention-computes-otherwise"),
    pytest.param(_no_packing_op, [packing.PACKING], True, id="no-oneDNN-packing-op"),
    pytest.param(_no_page_dropping, [pages.PAGE_DROPPING], True, id="madvise-fails"),
    pytest.param(lambda mp: (_vision_attention_of_another_kind(mp), _no_static_cache(mp)), [blip_attention.VISION_ATTENTION, caption.DECODE_LOOP],
                 False, id="two-at-once"),
]


@pytest.mark.parametrize(("unavailable", "named", "own_loop"), CAPTIONER_FALLBACKS)
def test_the_captioner_falls_back_with_one_warning_line_and_the_same_captions(
    blip: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], unavailable: Callable[[pytest.MonkeyPatch], object],
    named: list[str], own_loop: bool,
) -> None:
    want = _captions(Captioner(blip, device="cpu", batch_size=2, max_new_tokens=8, fast_path=False))  # before anything changed
    unavailable(monkeypatch)
    public = _captions(Captioner(blip, device="cpu", batch_size=2, max_new_tokens=8, fast_path=False))  # BLIP's own code, as it is now
    captioner = Captioner(blip, device="cpu", batch_size=2, max_new_tokens=8)
    captioner.load()
    assert capsys.readouterr().err.splitlines() == [_warning("captioner", *named)]
    assert captioner._fast is own_loop
    assert _captions(captioner) == public
    if blip_attention.VISION_ATTENTION not in named:
        assert public == want
    else:
        assert not any(name.endswith("self_attn") for name in _patched_layers(captioner._model))  # BLIP's own, as it is now
    if packing.PACKING in named:
        assert not any(hasattr(m, "packed_weight") for m in captioner._model.modules())
    if not own_loop:
        assert not any(name.endswith("crossattention.self") for name in _patched_layers(captioner._model))  # BLIP's own cross-attention
    Captioner(blip, device="cpu", batch_size=2, max_new_tokens=8).load()  # the same again in this process: said once
    assert capsys.readouterr().err == ""


def _prefix_not_passed_to_attention(monkeypatch: pytest.MonkeyPatch) -> None:
    """A transformers that no longer hands the model's extra keywords to the attention function."""
    from transformers import Qwen3ForCausalLM

    own = Qwen3ForCausalLM.forward
    monkeypatch.setattr(Qwen3ForCausalLM, "forward", lambda self, *args, alttext_prefix=None, **kwargs: own(self, *args, **kwargs))


def _no_sdpa_attention_forward(monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers.integrations import sdpa_attention

    monkeypatch.delattr(sdpa_attention, "sdpa_attention_forward")


def _no_cache_crop(monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers.cache_utils import Cache

    monkeypatch.delattr(Cache, "crop")


WRITER_FALLBACKS = [
    pytest.param(_prefix_not_passed_to_attention, [decode_attention.ATTENTION], True, id="attention-keywords-dropped"),
    pytest.param(_no_sdpa_attention_forward, [decode_attention.ATTENTION], True, id="no-sdpa_attention_forward"),
    pytest.param(_no_cache_crop, [writer_transformers.DECODE_LOOP], False, id="no-Cache.crop"),
    pytest.param(_no_packing_op, [packing.PACKING], True, id="no-oneDNN-packing-op"),
    pytest.param(lambda mp: (_no_packing_op(mp), _no_cache_crop(mp)), [packing.PACKING, writer_transformers.DECODE_LOOP], False,
                 id="two-at-once"),
]


@pytest.mark.parametrize(("unavailable", "named", "own_loop"), WRITER_FALLBACKS)
def test_the_writer_falls_back_with_one_warning_line_and_the_same_answers(
    qwen: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], unavailable: Callable[[pytest.MonkeyPatch], object],
    named: list[str], own_loop: bool,
) -> None:
    _fp32(monkeypatch)
    want = TransformersWriter(qwen, device="cpu", batch_size=2, max_new_tokens=6, temperature=0, fast_path=False).write(_conversations(), [1, 2, 3])
    unavailable(monkeypatch)
    writer = TransformersWriter(qwen, device="cpu", batch_size=2, max_new_tokens=6, temperature=0)
    writer.load()
    assert capsys.readouterr().err.splitlines() == [_warning("writer", *named)]
    assert writer._fast is own_loop
    if decode_attention.ATTENTION in named or not own_loop:
        assert writer._model.config._attn_implementation == "sdpa" and not writer._prompt_cache.separate_prefix()  # transformers' own attention
    assert writer.write(_conversations(), [1, 2, 3]) == want
    writer.keep([0])  # a retry still works, whichever path wrote the batch
    assert writer.write(_conversations()[:1], [1]) == want[:1]
    sampled = TransformersWriter(qwen, device="cpu", batch_size=2, max_new_tokens=6)
    answers = sampled.write(_conversations(), [1, 2, 3])
    assert len(answers) == 3 and sampled.write(_conversations(), [1, 2, 3]) == answers
    assert capsys.readouterr().err == ""  # said once per process


def test_a_decode_loop_whose_cache_is_not_read_is_caught_by_the_probe(blip: str, qwen: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The probes compare numbers, not only names: a model that silently stops reading the cache
    it is given (a keyword it no longer takes, swallowed by ``**kwargs``) runs without an error,
    and is caught."""
    from transformers import Qwen3ForCausalLM
    from transformers.models.blip.modeling_blip_text import BlipTextLMHeadModel

    _fp32(monkeypatch)
    writer = TransformersWriter(qwen, device="cpu", max_new_tokens=4)
    captioner = Captioner(blip, device="cpu", max_new_tokens=4)
    writer.load()
    captioner.load()
    assert writer._loop_agrees() and captioner._decoder_agrees()
    for cls in (Qwen3ForCausalLM, BlipTextLMHeadModel):
        own = cls.forward
        monkeypatch.setattr(cls, "forward", lambda self, *args, own=own, cache=None, **kwargs: own(self, *args, **kwargs))
    assert not writer._loop_agrees() and not captioner._decoder_agrees()


def test_the_int8_writer_without_torchaos_api_is_unquantized_with_one_warning_line(qwen: str, monkeypatch: pytest.MonkeyPatch,
                                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    require("torchao")
    import torch
    import torchao.quantization

    capsys.readouterr()
    monkeypatch.delattr(torchao.quantization, "Int8DynamicActivationInt8WeightConfig")
    writer = TransformersWriter(qwen, device="cpu", batch_size=2, max_new_tokens=6, quantize="int8")
    answers = writer.write(_conversations(), [1, 2, 3])
    assert capsys.readouterr().err.splitlines() == [_warning("writer", int8.INT8)]
    assert len(answers) == 3 and all(isinstance(a, str) for a in answers)
    # Not quantized: the writer is the default one (its layers packed where that works).
    layers = [m for m in writer._model.modules() if isinstance(m, torch.nn.Linear)]
    assert layers and not any(type(m.weight).__module__.startswith("torchao") for m in layers)
    assert not writer._int8


def test_auto_where_int8_is_unusable_is_the_plain_writer_without_a_warning(qwen: str, monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    # quantize = "auto" chose int8 for this CPU, but torchao's API is not there: nobody asked for
    # int8, so nothing is said, and the writer is the default one.
    require("torchao")
    import torchao.quantization

    capsys.readouterr()
    monkeypatch.delattr(torchao.quantization, "Int8DynamicActivationInt8WeightConfig")
    monkeypatch.setattr(writer_transformers, "quantization", lambda setting, device="cpu": "int8")
    writer = TransformersWriter(qwen, device="cpu", batch_size=2, max_new_tokens=6, quantize="auto")
    answers = writer.write(_conversations(), [1, 2, 3])
    assert capsys.readouterr().err == ""
    assert len(answers) == 3 and not writer._int8 and writer._fast


def test_loading_prints_nothing_where_torchao_is_installed(blip: str, qwen: str) -> None:
    """transformers imports torchao to load any model where it is installed, and torchao logs
    the kernels it cannot load; alttext keeps those lines off a user's terminal."""
    require("torchao")
    code = ("from alttext.pipeline.caption import Captioner; from alttext.pipeline.writer_transformers import TransformersWriter; "
            f"Captioner({blip!r}, device='cpu').load(); TransformersWriter({qwen!r}, device='cpu', quantize='int8').load(); print('loaded')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=600,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0 and done.stdout == "loaded\n" and done.stderr == ""


# The parts, each against the public computation ---------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_packed_linear_layers_give_the_plain_product(dtype: str) -> None:
    import copy

    import torch

    if not packable(dtype):
        pytest.skip("this torch packs no linear layers of this dtype")
    torch.manual_seed(0)

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(10, 16)
            self.body = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 16, bias=False))
            self.head = torch.nn.Linear(16, 10, bias=False)
            self.head.weight = self.embed.weight  # tied, as a language model's output layer often is

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.head(self.body(self.embed(ids)))

    model = Model().to(getattr(torch, dtype)).eval()
    with torch.no_grad():
        model.body[0].bias.uniform_(-1, 1)  # a bias the packed layer must still add
    plain = copy.deepcopy(model)
    also_tied = copy.deepcopy(model)
    assert packing.pack_linear_layers(model) == 2  # the tied output layer keeps its weight
    assert model.body[0].weight is None and model.body[2].weight is None
    assert model.head.weight is model.embed.weight and "forward" not in vars(model.head)
    assert packing.pack_linear_layers(also_tied, tied=True) == 3  # and with tied, gets a packed copy too
    assert also_tied.head.weight is also_tied.embed.weight and hasattr(also_tied.head, "packed_weight")
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    with torch.inference_mode():
        torch.testing.assert_close(model(ids), plain(ids), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(also_tied(ids), plain(ids), rtol=1e-5, atol=1e-5)
        assert model.body[0](torch.randn(0, 16, dtype=model.embed.weight.dtype)).shape == (0, 32)  # an empty batch
    assert packing.pack_linear_layers(torch.nn.Embedding(4, 4)) == 0


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="Linux only")
def test_a_released_weight_leaves_memory_only_where_it_was_mapped_from_a_file(tmp_path: os.PathLike[str]) -> None:
    import ctypes
    import mmap

    import torch

    page = mmap.PAGESIZE
    path = os.path.join(tmp_path, "weights.bin")
    with open(path, "wb") as f:
        f.write(b"x" * (64 * page))

    def resident_kb(address: int) -> int:
        with open("/proc/self/smaps", encoding="ascii", errors="replace") as f:
            inside = False
            for line in f:
                head = line.split()[0]
                if "-" in head and all(c in "0123456789abcdef-" for c in head):
                    start, end = (int(x, 16) for x in head.split("-"))
                    inside = start <= address < end
                elif inside and line.startswith("Rss:"):
                    return int(line.split()[1])
        raise AssertionError("mapping not found")

    with open(path, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    try:
        view = ctypes.c_char.from_buffer(mapped)
        address = ctypes.addressof(view)
        assert sum(mapped[k] for k in range(0, len(mapped), page)) == ord("x") * 64  # every page read
        assert resident_kb(address) >= 64 * page // 1024
        pages.drop_pages(address + 100, 64 * page - 200, pages.file_mappings())  # a weight not aligned to pages
        assert resident_kb(address) <= 2 * page // 1024  # the two pages shared with the bytes around stay
        assert mapped[:] == b"x" * (64 * page)  # anything read again comes back from the file
        del view
    finally:
        mapped.close()
    tensor = torch.arange(64 * page // 8, dtype=torch.int64)  # anonymous memory: never dropped
    pages.drop_pages(tensor.data_ptr(), tensor.nbytes, pages.file_mappings())
    assert torch.equal(tensor, torch.arange(64 * page // 8, dtype=torch.int64))


def test_checking_for_packed_layers_leaves_the_random_generator_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(packing, "_PACKABLE", [])  # checked again
    torch.manual_seed(7)
    expected = torch.rand(4)
    torch.manual_seed(7)
    try:
        packing.packable_dtypes()
    except models.Unusable:
        pass
    assert packing._PACKABLE and torch.equal(torch.rand(4), expected)


def test_prefix_attention_is_sdpa_over_the_prefix_and_the_rows() -> None:
    """A prefix kept once for all rows, then each row's own columns: the same output as SDPA over
    the prefix copied into every row, for one new token per row and for a prompt (causal)."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    class Attention(torch.nn.Module):
        num_key_value_groups, is_causal, layer_idx = 4, True, 1

    torch.manual_seed(0)
    shared_keys, shared_values = torch.randn(1, 2, 5, 16), torch.randn(1, 2, 5, 16)
    key, value = torch.randn(3, 2, 9, 16), torch.randn(3, 2, 9, 16)
    for tokens in (1, 4):
        query = torch.randn(3, 8, tokens, 16)
        mask = torch.ones(3, 1, tokens, 9, dtype=torch.bool).tril(9 - tokens - 2)
        mask[0, ..., :3] = False  # left padding
        whole = torch.cat([torch.ones(3, 1, tokens, 5, dtype=torch.bool), mask], dim=-1)
        want, _ = sdpa_attention_forward(Attention(), query, torch.cat([shared_keys.expand(3, -1, -1, -1), key], 2),
                                         torch.cat([shared_values.expand(3, -1, -1, -1), value], 2), whole, scaling=0.25)
        layers = [None, (shared_keys, shared_values)]
        for got in (decode_attention.prefix_attention(query, key, value, mask, 0.25, shared_keys, shared_values),
                    decode_attention.decode_attention(Attention(), query, key, value, mask, scaling=0.25, alttext_prefix=layers)[0]):
            assert got.shape == want.shape == (3, tokens, 8, 16)
            assert torch.allclose(got, want, atol=1e-5)
