from __future__ import annotations

import os

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from alttext.pipeline.evidence import Evidence  # noqa: E402
from alttext.model import Context  # noqa: E402
from alttext.pipeline.prompt import build_messages  # noqa: E402
from alttext.pipeline import prompt_cache, writer_transformers  # noqa: E402
from alttext.pipeline.models import ModelLoadError  # noqa: E402
from alttext.pipeline.prompt_cache import PromptCache, shared_prefix  # noqa: E402
from alttext.pipeline.runtime import cpu_has_bf16  # noqa: E402
from alttext.pipeline.records import seed_for  # noqa: E402
from alttext.pipeline.writer_transformers import TransformersWriter  # noqa: E402
from tests.conftest import QWEN3, require  # noqa: E402
from tests.helpers import packable  # noqa: E402
from tests.models import tiny_qwen3  # noqa: E402



def _caption(text: str) -> Evidence:
    return Evidence(captions=(text,))


@pytest.fixture(scope="module")
def qwen(tmp_path_factory: pytest.TempPathFactory) -> str:
    return tiny_qwen3(str(tmp_path_factory.mktemp("qwen3")), QWEN3)


def _conversations() -> list[list[dict[str, str]]]:
    captions = ["a dog on grass", "a red door in a white wall with a brass handle on the left side", "a cat"]
    return [build_messages(_caption(c), Context(), "en") for c in captions]


def test_prompt_is_the_chat_template_with_thinking_off(qwen: str) -> None:
    writer = TransformersWriter(qwen, device="cpu")
    text = writer.prompt_text(_conversations()[0])
    assert text.startswith("<|im_start|>system\nYou write alt text for blind readers")
    assert text.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")


def test_batches_are_left_padded(qwen: str) -> None:
    writer = TransformersWriter(qwen, device="cpu")
    enc = writer.encode(_conversations())
    assert writer.tokenizer.padding_side == "left"
    ids, mask = enc["input_ids"], enc["attention_mask"]
    assert len({int(row[-1]) for row in ids}) == 1  # every prompt ends flush right
    assert mask[:, -1].all() and not mask[:, 0].all()  # the padding is on the left


def test_one_answer_per_conversation_seeded_and_bounded(qwen: str) -> None:
    import torch

    writer = TransformersWriter(qwen, device="cpu", batch_size=2, max_new_tokens=5)
    seeds = [seed_for("ab" * 32), seed_for("cd" * 32), seed_for("ef" * 32)]
    first = writer.write(_conversations(), seeds)
    assert len(first) == 3 and all(isinstance(t, str) for t in first)
    assert writer.write(_conversations(), seeds) == first  # a rerun gives the same text
    inputs, length, _ = writer._prepare(_conversations())
    with torch.inference_mode():
        assert all(1 <= len(tokens) <= 5 for tokens in writer.generate(inputs, length))
    assert writer.write([], []) == []


def test_loaded_once(qwen: str) -> None:
    writer = TransformersWriter(qwen, device="cpu", max_new_tokens=2)
    writer.write(_conversations()[:1], [1])
    model = writer._model
    writer.write(_conversations()[:1], [1])
    assert writer._model is model


def test_missing_model_says_how_to_get_it(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = os.path.join(str(tmp_path), "nothing-here")
    with pytest.raises(ModelLoadError, match=r"^alttext: error: the writer model .* was not found \(no such file or folder\); set writer_model"):
        TransformersWriter(missing, device="cpu").load()
    os.makedirs(missing)
    with pytest.raises(ModelLoadError, match=r"^alttext: error: cannot load the writer model .*writer_model = "):
        TransformersWriter(missing, device="cpu").load()


def test_exact_prompt_text_is_the_golden(qwen: str) -> None:
    from tests.test_prompt import CONTEXT, GOLDEN, PHOTO

    with open(os.path.join(GOLDEN, "prompt-en.qwen3.txt"), encoding="utf-8") as f:
        golden = f.read()
    assert TransformersWriter(qwen, device="cpu").prompt_text(build_messages(PHOTO, CONTEXT, "en")) == golden


def _generate(writer: TransformersWriter, inputs: dict, prompt_length: int, tokens: int = 4) -> tuple:
    """transformers' own greedy generate(): each row's tokens up to its end-of-text token, and each step's logits."""
    import torch

    with torch.inference_mode():
        out = writer._model.generate(**inputs, do_sample=False, max_new_tokens=tokens, pad_token_id=writer.tokenizer.pad_token_id,
                                     output_logits=True, return_dict_in_generate=True)
    eos = writer._model.generation_config.eos_token_id
    ends = set(eos if isinstance(eos, list) else [eos])
    rows = [row[: next((k for k, t in enumerate(row) if t in ends), len(row))] for row in out.sequences[:, prompt_length:].tolist()]
    return rows, [logits.float() for logits in out.logits]


def _greedy(writer: TransformersWriter, inputs: dict, prompt_length: int, tokens: int = 4) -> tuple:
    """The writer's own decode loop drawing the most likely token: its tokens, and each step's logits."""
    from unittest import mock

    import torch

    from alttext.pipeline import writer_transformers

    seen: list = []

    def greedy(logits: torch.Tensor, *settings: float) -> torch.Tensor:
        seen.append(logits.float())
        return logits.argmax(-1)

    saved, writer.max_new_tokens = writer.max_new_tokens, tokens
    try:
        with mock.patch.object(writer_transformers, "sample", greedy), torch.inference_mode():
            rows = writer.generate(inputs, prompt_length)
    finally:
        writer.max_new_tokens = saved
    return rows, seen


def _fp32_writer(qwen: str, separate: bool = True, **settings: object) -> TransformersWriter:
    """A loaded writer in fp32 (no bf16 rounding to hide behind). ``separate=False``: attention by
    SDPA, as on a GPU, so each row's cache holds its own copy of the shared prefix."""
    from unittest import mock

    from alttext.pipeline import writer_transformers

    writer = TransformersWriter(qwen, device="cpu", **settings)  # type: ignore[arg-type]
    with mock.patch.object(writer_transformers, "cpu_has_bf16", lambda: False):
        writer.load()
    if not separate:
        writer._model.set_attn_implementation("sdpa")
    return writer


def _run_already(inputs: dict) -> int:
    """How many leading columns of the batch are in a cache already: a separate prefix, and the cache's own."""
    prefix = inputs.get("prefix")
    return (prefix[0][0].shape[2] if prefix is not None else 0) + int(inputs["cache"].get_seq_length())


def _assert_same_as_plain_padding(writer: TransformersWriter, conversations: list, inputs: dict, length: int) -> None:
    """The writer's greedy tokens and logits from ``inputs`` are generate()'s from plain left padding."""
    plain = writer.encode(conversations)
    want, want_logits = _generate(writer, dict(plain), plain["input_ids"].shape[1])
    got, got_logits = _greedy(writer, inputs, length)
    assert got == want and len(got_logits) == len(want_logits)
    for a, b in zip(got_logits, want_logits):
        assert _close(a, b)


def _close(a: object, b: object) -> bool:
    """Logits equal up to float arithmetic's order."""
    import torch

    return torch.allclose(a, b, atol=1e-4)  # type: ignore[arg-type]


@pytest.mark.parametrize("room", [None, 1], ids=["default room", "grows every token"])
@pytest.mark.parametrize("separate", [True, False], ids=["separate prefix", "prefix in each row"])
def test_shared_prefix_is_run_once_and_changes_nothing(qwen: str, separate: bool, room: int | None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    if room is not None:  # an answer longer than the room preallocated for it: the cache grows
        monkeypatch.setattr(prompt_cache, "ANSWER_ROOM", room)
    answer = min(256, room or 64)  # the columns preallocated for the answer
    writer = _fp32_writer(qwen, separate)
    conversations = _conversations()
    inputs, length, _ = writer._prepare(conversations)
    rows = [writer.tokenizer(writer.prompt_text(c), add_special_tokens=False)["input_ids"] for c in conversations]
    shared = shared_prefix(rows)
    # The whole system message and more is shared; it runs once, for one row.
    assert shared > len(writer.tokenizer(writer.prompt_text(conversations[0]).split("<|im_start|>user")[0])["input_ids"])
    assert _run_already(inputs) == shared and inputs["input_ids"].shape == (3, length)
    if separate:  # one row of it, for all; the batch's cache starts after it
        assert inputs["prefix"][0][0].shape[0] == 1 and inputs["cache"].get_seq_length() == 0
        assert inputs["cache"].layers[0].max_cache_len == length - shared + answer
    else:  # a copy in each row's cache
        assert "prefix" not in inputs and inputs["cache"].layers[0].max_cache_len == length + answer
    # Each row: the shared tokens, padding (masked), then its own tokens.
    for row, ids, mask in zip(rows, inputs["input_ids"].tolist(), inputs["attention_mask"].tolist()):
        assert [t for t, m in zip(ids, mask) if m] == row
        assert mask[:shared] == [1] * shared and sorted(mask[shared:]) == mask[shared:]
    _assert_same_as_plain_padding(writer, conversations, inputs, length)
    cache = inputs["cache"].layers[0]
    # Grown for the 4 tokens drawn: the last one drawn is not run, so 3 are written.
    assert cache.max_cache_len == (length - shared if separate else length) + (answer if room is None else 3)
    assert cache.keys.shape[2] == cache.values.shape[2] == cache.max_cache_len


def test_the_next_batch_starts_from_the_last_prefix(qwen: str) -> None:
    writer = _fp32_writer(qwen)
    chinese = [build_messages(_caption(c), Context(heading="花园"), "zh") for c in ("a dog on grass", "a cat")]
    batches = [_conversations()[:2], _conversations()[1:], chinese, _conversations()]

    def shared_of(batch: list[list[dict[str, str]]]) -> list[int]:
        rows = [writer.tokenizer(writer.prompt_text(c), add_special_tokens=False)["input_ids"] for c in batch]
        return rows[0][: shared_prefix(rows)]

    cache = writer._prompt_cache
    last: list[int] = []
    for batch in batches:
        prefix, ran = shared_of(batch), cache.prefix_tokens_run
        inputs, length, _ = writer._prepare(batch)
        common = next((k for k, (a, b) in enumerate(zip(last, prefix)) if a != b), min(len(last), len(prefix)))
        # Only what this prefix does not share with the last one runs (at least one token).
        assert cache.prefix_tokens_run - ran == len(prefix) - min(common, len(prefix) - 1)
        assert _run_already(inputs) == len(prefix)
        _assert_same_as_plain_padding(writer, batch, inputs, length)
        last = prefix
    assert cache.prefix_tokens_run < sum(len(shared_of(b)) for b in batches)


@pytest.mark.parametrize("room", [None, 1], ids=["default room", "grows every token"])
@pytest.mark.parametrize("separate", [True, False], ids=["separate prefix", "prefix in each row"])
def test_a_retry_runs_only_what_it_does_not_share_with_its_kept_row(qwen: str, separate: bool, room: int | None,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    if room is not None:  # rows kept from a cache that grew, and a retry that grows its own
        monkeypatch.setattr(prompt_cache, "ANSWER_ROOM", room)
    writer = _fp32_writer(qwen, separate, batch_size=3, max_new_tokens=4)
    cache = writer._prompt_cache
    captions = ["a dog on grass", "a red door in a white wall with a brass handle on the left side", "a cat"]
    first = [build_messages(_caption(c), Context(heading="Garden"), "en") for c in captions]
    writer.keep([0])  # nothing written yet: nothing to keep
    assert cache.kept == []
    writer.write(first, [1, 2, 3])
    writer.keep([0, 2])
    assert cache.last is None and len(cache.kept) == 2  # the batch's cache is released, two rows kept
    retry = [build_messages(_caption(c), Context(heading="Garden"), "en", feedback=("subjective: beautiful",)) for c in captions[::2]]
    retry.append(first[1])  # a row that was not kept runs whole
    tokens = [writer.tokenizer(writer.prompt_text(c), add_special_tokens=False)["input_ids"] for c in first + retry]
    shared = shared_prefix(tokens[3:])
    common = [next(k for k, (a, b) in enumerate(zip(tokens[3 + r], tokens[f])) if a != b) for r, f in ((0, 0), (1, 2))]
    inputs, length, _ = writer._prepare(retry)
    assert cache.kept == []  # taken
    width = max(c - shared for c in common)
    assert _run_already(inputs) == shared + width  # the prefix and the kept rows' tokens do not run again
    assert length == shared + width + max(len(tokens[3]) - common[0], len(tokens[4]) - common[1], len(tokens[5]) - shared)
    for row, ids, mask in zip(tokens[3:], inputs["input_ids"].tolist(), inputs["attention_mask"].tolist()):
        assert [t for t, m in zip(ids, mask) if m] == row
    _assert_same_as_plain_padding(writer, retry, inputs, length)
    # The first batch's captions all start with "a"; a retry batch with a row that does not shares
    # less, and still takes the kept rows.
    writer.write(first, [1, 2, 3])
    writer.keep([0, 2])
    other = retry[:2] + [build_messages(_caption("two cats"), Context(heading="Garden"), "en")]
    other_shared = shared_prefix([writer.tokenizer(writer.prompt_text(c), add_special_tokens=False)["input_ids"] for c in other])
    assert other_shared < shared_prefix(tokens[:3])
    inputs, length, _ = writer._prepare(other)
    assert cache.kept == [] and _run_already(inputs) > other_shared  # taken: their tokens are in the cache
    _assert_same_as_plain_padding(writer, other, inputs, length)
    words = ["dog", "cat", "door", "tree", "boat", "lamp", "sofa", "road", "bird"]  # no row starts like another
    for k in range(0, 9, 3):
        writer.write([build_messages(_caption(f"{w} on grass"), Context(), "en") for w in words[k : k + 3]], [1, 2, 3])
        writer.keep(range(3))
    kept = [writer.tokenizer.decode(entry.tokens).rsplit("VISION_START\nCaption: ", 1)[1].split(" ")[0] for entry in cache.kept]
    assert kept == words[3:]  # two batches' worth: the oldest went first
    writer.write(first, [1, 2, 3])
    writer.forget()
    assert cache.kept == [] and cache.last is None


def test_a_row_that_only_starts_like_a_kept_row_leaves_it_to_its_retry(qwen: str) -> None:
    writer = _fp32_writer(qwen, batch_size=2, max_new_tokens=2)
    caption = "a dog on the grass of a garden next to a wooden fence"
    first = [build_messages(_caption(c), Context(heading="Garden"), "en") for c in (caption, "a red door")]
    writer.write(first, [1, 2])
    writer.keep([0])
    # Another picture whose caption starts the same way, written before the retry: it runs whole,
    # and the kept row waits for its own retry.
    other = build_messages(_caption("a dog on a sofa"), Context(heading="Garden"), "en")
    fresh = [other, first[1]]
    tokens = [writer.tokenizer(writer.prompt_text(c), add_special_tokens=False)["input_ids"] for c in fresh]
    inputs, _, _ = writer._prepare(fresh)
    assert len(writer._prompt_cache.kept) == 1 and _run_already(inputs) == shared_prefix(tokens)
    # In one batch with the retry, ahead of it: the retry takes its own first prompt's cache.
    retry = build_messages(_caption(caption), Context(heading="Garden"), "en", feedback=("subjective: beautiful",))
    batch = [other, retry]
    tokens = [writer.tokenizer(writer.prompt_text(c), add_special_tokens=False)["input_ids"] for c in batch]
    kept = writer._prompt_cache.kept[0].tokens
    common = next(k for k, (a, b) in enumerate(zip(tokens[1], kept)) if a != b)
    assert writer.tokenizer.decode(tokens[1][:common]).endswith("- Nearest heading: Garden\n\n")  # all but the feedback and after
    inputs, length, _ = writer._prepare(batch)
    assert writer._prompt_cache.kept == [] and _run_already(inputs) == common
    _assert_same_as_plain_padding(writer, batch, inputs, length)


def test_each_kept_row_goes_to_the_row_that_shares_the_most_of_it() -> None:
    import torch

    from alttext.pipeline.prompt_cache import Kept

    def kept(tokens: list[int], start: int = 2) -> Kept:
        columns = torch.arange(start, len(tokens)).reshape(1, -1, 1)  # each column holds its token's index
        return Kept(tokens, start, [columns], [columns + 100])

    cache = PromptCache(None, 0, "cpu", batch_size=8)
    own = list(range(10))
    cache.kept = [kept(own)]
    # Shares 4 tokens (2 of its 8 own), 7 (5 of 8) and 8 (6 of 8), after 3 the batch shares.
    rows = [own[:4] + [99, 98], own[:7] + [97, 96], own[:8] + [95, 94]]
    taken = cache.take_kept(rows, 3)
    assert taken[0] is None and taken[1] is None and cache.kept == []
    assert taken[2] is not None and taken[2].tokens == own[:8] and taken[2].start == 3
    assert taken[2].keys[0].flatten().tolist() == [3, 4, 5, 6, 7] and taken[2].values[0].flatten().tolist() == [103, 104, 105, 106, 107]
    cache.kept = [kept(own)]
    assert cache.take_kept(rows[:1], 3) == [None] and len(cache.kept) == 1  # less than half: still kept


def test_the_decode_loop_is_generate(qwen: str) -> None:
    """Drawing the most likely token, the loop gives generate()'s greedy tokens and logits, with
    and without a shared prefix, up to the end-of-text token."""
    writer = _fp32_writer(qwen, max_new_tokens=6)
    for conversations in (_conversations(), _conversations()[:1]):
        plain = writer.encode(conversations)
        want, want_logits = _generate(writer, dict(plain), plain["input_ids"].shape[1], tokens=6)
        for inputs, length in (writer._prepare(conversations)[:2], (dict(plain), plain["input_ids"].shape[1])):
            got, seen = _greedy(writer, inputs, length, tokens=6)
            assert got == want and len(seen) == len(want_logits)
            for a, b in zip(seen, want_logits):
                assert _close(a, b)


def test_decode_attention_is_sdpa(qwen: str) -> None:
    """For one new token per row (key/value heads shared by query heads, padding masked), the same
    output as SDPA; anything else is SDPA's own."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from alttext.pipeline.fast_path.decode_attention import DECODE_ATTENTION, decode_attention

    writer = TransformersWriter(qwen, device="cpu")
    writer.load()
    assert writer._model.config._attn_implementation == DECODE_ATTENTION

    class Attention(torch.nn.Module):
        num_key_value_groups, is_causal = 4, True

    torch.manual_seed(0)
    key, value = torch.randn(3, 2, 9, 16), torch.randn(3, 2, 9, 16)
    mask = torch.ones(3, 1, 1, 9, dtype=torch.bool)
    mask[0, ..., :4] = False  # left padding
    mask[1, ..., 7:] = False  # room not written yet
    for query, m in ((torch.randn(3, 8, 1, 16), mask), (torch.randn(3, 8, 9, 16), None)):
        want, _ = sdpa_attention_forward(Attention(), query, key, value, m, scaling=0.25)
        got, _ = decode_attention(Attention(), query, key, value, m, scaling=0.25)
        assert got.shape == want.shape == (3, query.shape[2], 8, 16)
        assert torch.allclose(got, want, atol=1e-5)


def test_the_draw_is_generates_nucleus() -> None:
    """The same probabilities as generate()'s temperature, top-k and top-p warpers, on all tokens."""
    import torch
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    from alttext.pipeline.writer_transformers import nucleus

    torch.manual_seed(0)
    logits = torch.randn(6, 500) * torch.tensor([[0.5], [1.0], [2.0], [4.0], [8.0], [16.0]])  # flat to peaked
    for temperature, top_k, top_p in ((0.6, 20, 0.95), (1.0, 50, 0.5), (0.6, 20, 1.0), (0.3, 3, 0.9), (0.6, 0, 0.95)):
        scores = logits.clone()
        warpers = [TemperatureLogitsWarper(temperature), TopPLogitsWarper(top_p)]
        if top_k:
            warpers.insert(1, TopKLogitsWarper(top_k))
        for warper in warpers:
            scores = warper(None, scores)
        probs, index = nucleus(logits, temperature, top_k, top_p)
        ours = torch.zeros_like(logits).scatter(-1, index, probs / probs.sum(-1, keepdim=True))
        assert torch.allclose(ours, torch.softmax(scores, dim=-1), atol=1e-6)


def test_shared_prefix_of_rows() -> None:
    assert shared_prefix([[1, 2, 3, 4], [1, 2, 5]]) == 2
    assert shared_prefix([[1, 2, 3], [1, 2, 3]]) == 2  # every row keeps one token of its own
    assert shared_prefix([[1, 2, 3]]) == 2
    assert shared_prefix([[7, 2], [1, 2]]) == 0


def test_int8_writer_quantizes_its_linear_layers_with_torchao(qwen: str, capsys: pytest.CaptureFixture[str]) -> None:
    require("torchao")
    from torchao.quantization import Int8Tensor

    capsys.readouterr()
    writer = TransformersWriter(qwen, device="cpu", quantize="int8", max_new_tokens=6)
    answers = writer.write(_conversations(), [1, 2, 3])
    assert len(answers) == 3 and all(isinstance(a, str) for a in answers)
    layers = [m for m in writer._model.modules() if type(m).__name__ == "Linear"]
    assert len(layers) >= 8 and all(isinstance(m.weight, Int8Tensor) for m in layers)  # q, k, v, o, gate, up, down, the output
    assert writer._fast  # alttext's decode loop runs on the quantized layers
    # The same seeds give the same answers on a rerun.
    assert writer.write(_conversations(), [1, 2, 3]) == answers
    assert capsys.readouterr().err == ""  # no warning: the int8 path's internals are all there


@pytest.mark.parametrize(
    ("setting", "device", "flags", "torchao", "expected"),
    [
        pytest.param("auto", "cpu", "fpu sse2 avx2 avx512f avx512_vnni avx512_bf16", True, "int8", id="avx512-bf16-no-amx"),
        pytest.param("auto", "cpu", "fpu sse2 avx2 fma", True, "int8", id="avx2"),
        pytest.param("auto", "cpu", "fpu sse2 avx512_bf16 amx_tile amx_bf16 amx_int8", True, "none", id="amx"),
        pytest.param("auto", "cpu", "fpu sse2 avx2", False, "none", id="no-torchao"),
        pytest.param("auto", "cpu", None, True, "none", id="no-cpuinfo"),  # macOS, Windows, or not x86: not measured
        pytest.param("auto", "cpu", "fp asimd", True, "none", id="arm"),
        pytest.param("auto", "cuda", "fpu sse2 avx2", True, "none", id="gpu"),
        pytest.param("int8", "cpu", "fpu sse2 amx_bf16", False, "int8", id="asked"),
        pytest.param("int8", "cuda", "fpu sse2", True, "none", id="asked-on-gpu"),
        pytest.param("none", "cpu", "fpu sse2 avx2", True, "none", id="none"),
    ],
)
def test_quantize_auto_is_int8_on_cpus_without_amx(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, setting: str, device: str,
                                                   flags: str | None, torchao: bool, expected: str) -> None:
    info = os.path.join(str(tmp_path), "cpuinfo")
    if flags is not None:
        with open(info, "w", encoding="ascii") as f:
            f.write(f"processor\t: 0\nflags\t\t: {flags}\n")
    monkeypatch.setattr(writer_transformers, "_installed", lambda module: torchao or module != "torchao")
    assert writer_transformers.quantization(setting, device, info) == expected


def test_int8_without_torchao_is_one_line(qwen: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "torchao", None)
    with pytest.raises(ModelLoadError) as caught:
        TransformersWriter(qwen, device="cpu", quantize="int8").load()
    assert str(caught.value) == "alttext: error: quantize = \"int8\" needs torchao: pip install 'alttext[int8]', or set quantize = \"none\""


def test_the_writer_loads_with_packed_linear_layers_but_its_tied_output(qwen: str) -> None:
    import torch

    if not packable("bfloat16" if cpu_has_bf16() else "float32"):
        pytest.skip("this torch packs no linear layers")
    writer = TransformersWriter(qwen, device="cpu", max_new_tokens=6)
    writer.load()
    model = writer._model
    layers = [m for m in model.modules() if type(m) is torch.nn.Linear]
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight  # still tied
    assert [m for m in layers if m.weight is not None] == [model.get_output_embeddings()]
    assert all(hasattr(m, "packed_weight") for m in layers if m.weight is None)


def test_a_gguf_file_loads_from_its_folder(tmp_path: os.PathLike[str]) -> None:
    from alttext.pipeline.writer_transformers import gguf_source

    path = os.path.join(str(tmp_path), "qwen2.5-0.5b-instruct-q4_k_m.gguf")
    with open(path, "wb") as f:
        f.write(b"GGUF")
    assert gguf_source(path) == (str(tmp_path), {"gguf_file": "qwen2.5-0.5b-instruct-q4_k_m.gguf"})
    assert gguf_source("Qwen/Qwen3-0.6B") == ("Qwen/Qwen3-0.6B", {})
    assert gguf_source(os.path.join(str(tmp_path), "missing.gguf"))[1] == {}  # not a file: as given, for a clear error


def test_a_gguf_file_without_its_packages_is_one_line(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    path = os.path.join(str(tmp_path), "model.gguf")
    with open(path, "wb") as f:
        f.write(b"GGUF")
    monkeypatch.setitem(sys.modules, "gguf", None)
    with pytest.raises(ModelLoadError) as caught:
        TransformersWriter(path, device="cpu").load()
    assert str(caught.value) == f"alttext: error: cannot load the writer model {path!r}: a GGUF file needs gguf: pip install 'alttext[local]'"
    monkeypatch.delitem(sys.modules, "gguf")
    pytest.importorskip("gguf")
    with pytest.raises(ModelLoadError) as caught:  # four bytes are no model
        TransformersWriter(path, device="cpu").load()
    message = str(caught.value)
    assert message.startswith(f"alttext: error: cannot load the writer model {path!r}: not a GGUF file") and "\n" not in message
