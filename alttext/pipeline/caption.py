"""Stage 2: BLIP captions, batched and greedy. Torch and transformers load here, and only here.

Uses BlipForConditionalGeneration and BlipProcessor directly (the image-to-text pipeline is gone
in transformers 5). The model loads once, on first use, and stays on the instance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from alttext import messages
from alttext.pipeline.models import ModelLoadError, locate

DEFAULT_CAPTIONER = "Salesforce/blip-image-captioning-base"


def model_load_error(role: str, model: str, key: str, exc: Exception) -> ModelLoadError:
    """One line: which model, why (transformers' first sentence), and how to get it."""
    reason = str(exc).strip().splitlines()[0].split(". ")[0] if str(exc).strip() else type(exc).__name__
    return ModelLoadError(messages.MODEL_LOAD.format(role=role, model=model, reason=reason.rstrip("."), key=key))


def pick_device(setting: str = "auto") -> str:
    import torch

    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def cpu_count() -> int:
    """CPUs this process may use: its affinity, capped by a cgroup v2 quota (containers, CI)."""
    import os

    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:
        count = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            count = min(count, max(1, int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return max(1, count)


def cpu_has_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU does bf16 arithmetic natively (AVX512-BF16 or AMX); elsewhere bf16 is
    emulated and slower than fp32."""
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def use_cpu_threads() -> None:
    """One torch thread per usable CPU, unless the user chose (OMP_NUM_THREADS) — torch's own
    default counts the host's cores, which oversubscribes a container's quota."""
    import os

    import torch

    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(cpu_count())


def no_loading_bars() -> None:
    """transformers draws a "Loading weights" bar on stderr even in a pipe (a pre-commit log);
    alttext has its own progress bar, shown only on a terminal. Warnings still show."""
    from transformers.utils import logging

    logging.disable_progress_bar()


def precision_dtypes(precision: str, device: str) -> tuple[Any, Any]:
    """The captioner's dtypes: (vision encoder, text decoder). BLIP base is published in fp32.
    "auto": fp16 on a GPU, as its model card runs it; on a CPU with native bf16, the vision encoder
    (most of the arithmetic) in bf16 and the text decoder, which picks each word, in fp32, the
    split the BLIP authors ship for BLIP-2 (a half-precision vision encoder, an fp32 Q-Former);
    fp32 elsewhere. "fp32" keeps all of it in fp32, and "bf16" puts the decoder in bf16 too."""
    import torch

    if precision == "bf16":
        return torch.bfloat16, torch.bfloat16
    if precision == "fp32" or device not in ("cuda", "cpu"):
        return torch.float32, torch.float32
    if device == "cuda":
        return torch.float16, torch.float16
    return (torch.bfloat16 if cpu_has_bf16() else torch.float32), torch.float32


def convert(module: Any, dtype: Any) -> Any:
    """``module.to(dtype)``, without keeping the weights it replaces in memory: where they were
    read from the memory-mapped checkpoint, their pages are dropped (see ``_drop_pages``), as
    packing does. Returns the module."""
    files = _file_mappings()
    replaced = [(t.data_ptr(), t.nbytes) for t in [*module.parameters(), *module.buffers()] if t.is_floating_point() and t.dtype != dtype]
    module.to(dtype)
    for address, size in replaced:
        _drop_pages(address, size, files)
    return module


def hand_over(vision_model: Any, dtype: Any) -> None:
    """A vision encoder in a dtype of its own: it takes pixels in any dtype and hands its outputs
    to the text decoder in ``dtype``, so BLIP's own ``generate()`` runs on the model as loaded."""

    def pixels_in(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if kwargs.get("pixel_values") is not None:
            kwargs["pixel_values"] = kwargs["pixel_values"].to(module.dtype)
        return tuple(a.to(module.dtype) if getattr(a, "is_floating_point", lambda: False)() else a for a in args), kwargs

    def outputs_out(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Any:
        for key, value in output.items():
            if getattr(value, "is_floating_point", lambda: False)():
                output[key] = value.to(dtype)
        return output

    vision_model.register_forward_pre_hook(pixels_in, with_kwargs=True)
    vision_model.register_forward_hook(outputs_out, with_kwargs=True)


def use_fused_vision_attention(model: Any) -> int:
    """Give the vision encoder's attention layers PyTorch's fused attention (SDPA) in place of
    BLIP's own, which writes out every 577 x 577 score matrix, then scales and softmaxes it in
    separate passes. The same arithmetic in the same precision (no dropout: the model is in eval
    mode). Layers of another shape keep their own. Returns how many layers changed."""
    import types

    from transformers.models.blip.modeling_blip import BlipAttention

    changed = 0
    for module in model.modules():
        if type(module) is BlipAttention and all(hasattr(module, a) for a in ("qkv", "projection", "num_heads", "head_dim", "scale")):
            module.forward = types.MethodType(_fused_attention_forward, module)
            changed += 1
    return changed


def _fused_attention_forward(self: Any, hidden_states: Any, **kwargs: Any) -> tuple[Any, None]:
    """BlipAttention.forward through ``scaled_dot_product_attention``; no attention weights."""
    import torch

    rows, length, width = hidden_states.shape
    qkv = self.qkv(hidden_states).reshape(rows, length, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
    out = torch.nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], scale=self.scale)
    return self.projection(out.transpose(1, 2).reshape(rows, length, width)), None


def use_grouped_cross_attention(model: Any) -> int:
    """Let the text decoder's cross-attention take several rows per image: the captions of one
    image (plain, and continuing a prompt) then read its cached keys and values once per step for
    all of them, instead of once per caption. Any other call keeps BLIP's own code. Returns how
    many layers changed."""
    import types

    from transformers.models.blip.modeling_blip_text import BlipTextSelfAttention

    changed = 0
    for name, module in model.named_modules():
        if name.endswith("crossattention.self") and type(module) is BlipTextSelfAttention and all(
            hasattr(module, a) for a in ("query", "attention_head_size", "layer_idx")
        ):
            module.forward = types.MethodType(_grouped_cross_attention_forward, module)
            changed += 1
    return changed


def _grouped_cross_attention_forward(self: Any, hidden_states: Any, attention_mask: Any = None, encoder_hidden_states: Any = None,
                                     encoder_attention_mask: Any = None, cache: Any = None, **kwargs: Any) -> tuple[Any, Any]:
    """BlipTextSelfAttention.forward where the cached keys and values hold one row per image and
    the queries ``g`` rows per image, row ``j * images + k`` for image ``k``: BLIP's arithmetic
    (scores over the square root of the head size, softmax, no dropout in eval mode), with each
    image's keys and values read once for its ``g`` rows. No attention weights."""
    import math

    import torch
    from transformers.cache_utils import EncoderDecoderCache

    rows, length = hidden_states.shape[:2]
    keys = values = None
    if (isinstance(cache, EncoderDecoderCache) and encoder_hidden_states is not None and encoder_attention_mask is None
            and cache.is_updated.get(self.layer_idx)):
        layer = cache.cross_attention_cache.layers[self.layer_idx]
        keys, values = layer.keys, layer.values
    if keys is None or keys.shape[0] >= rows or rows % keys.shape[0]:
        return type(self).forward(self, hidden_states, attention_mask=attention_mask, encoder_hidden_states=encoder_hidden_states,
                                  encoder_attention_mask=encoder_attention_mask, cache=cache, **kwargs)
    images, heads, _, size = keys.shape
    group = rows // images
    query = self.query(hidden_states).view(group, images, length, heads, size).permute(1, 3, 0, 2, 4).reshape(images, heads, group * length, size)
    scores = torch.matmul(query, keys.transpose(-1, -2)) / math.sqrt(size)
    context = torch.matmul(torch.softmax(scores, dim=-1), values)
    return context.view(images, heads, group, length, size).permute(2, 0, 3, 1, 4).reshape(rows, length, heads * size), None


def pack_linear_layers(model: Any, tied: bool = False) -> int:
    """On CPU, give each linear layer its weight reordered once into oneDNN's blocked layout, and
    the oneDNN kernel that reads it, in place of the plain row-major weight that the default
    matrix product reads on every call. The same dtype and arithmetic (at most another summation
    order, as with another thread count); a small-batch product, where reading the weights is the
    cost, takes about half the time. The plain weight is released, and where it was read from the
    memory-mapped checkpoint its pages are dropped from memory, so the model does not take twice
    the memory. A weight shared with another parameter (an output layer tied to the input
    embedding) stays as it is, or with ``tied``, stays and its layer gets a packed copy too (more
    memory, by the size of that weight). Layers of other types stay as they are. Returns how many
    layers changed (0 where this torch has no oneDNN or the dtype is not one it packs here)."""
    import types

    import torch

    if not _packing_works():
        return 0
    shared = _tied_parameters(model)
    bf16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    files = _file_mappings()
    changed = 0
    for module in list(model.modules()):
        weight = getattr(module, "weight", None)
        if type(module) is not torch.nn.Linear or not isinstance(weight, torch.Tensor) or weight.device.type != "cpu":
            continue
        keep = weight.data_ptr() in shared
        if (keep and not tied) or not (weight.dtype == torch.float32 or (weight.dtype == torch.bfloat16 and bf16)):
            continue
        with torch.no_grad():
            module.packed_weight = torch.ops.mkldnn._reorder_linear_weight(weight.detach())
        module.forward = types.MethodType(_packed_linear_forward, module)
        if not keep:
            module.weight = None
            _drop_pages(weight.data_ptr(), weight.nbytes, files)
        changed += 1
    return changed


def _tied_parameters(model: Any) -> set[int]:
    """Where the parameters start that more than one module holds, or that share their memory."""
    from collections import Counter

    held = Counter(p.data_ptr() for module in model.modules() for p in module.parameters(recurse=False))
    return {address for address, count in held.items() if count > 1}


def _file_mappings() -> list[tuple[int, int]]:
    """The address ranges this process has mapped from files (Linux; none elsewhere)."""
    ranges = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and fields[5].startswith("/"):
                    start, end = (int(x, 16) for x in fields[0].split("-"))
                    ranges.append((start, end))
    except OSError:
        pass
    return ranges


def _drop_pages(address: int, size: int, files: list[tuple[int, int]]) -> None:
    """Drop from this process's memory the whole pages of ``[address, address + size)``, where that
    lies in a file mapping: a released weight of a memory-mapped checkpoint, which would otherwise
    stay resident next to its packed copy. Nothing reads those bytes again; were anything to, the
    kernel would read them back from the file. Pages shared with the bytes around are kept."""
    import ctypes
    import mmap

    if not any(start <= address and address + size <= end for start, end in files):
        return
    page = mmap.PAGESIZE
    first, last = -(-address // page) * page, (address + size) // page * page
    if last > first:
        try:
            ctypes.CDLL(None, use_errno=True).madvise(ctypes.c_void_p(first), ctypes.c_size_t(last - first), 4)  # MADV_DONTNEED
        except (OSError, AttributeError):
            pass


def _packed_linear_forward(self: Any, x: Any) -> Any:
    import torch

    return torch.ops.mkldnn._linear_pointwise(x, self.packed_weight, self.bias, "none", [], "")


_PACKING: list[bool] = []  # whether packed linear layers work in this process, once checked


def _packing_works() -> bool:
    """Whether this torch has oneDNN's packed linear kernel, and it gives the plain product."""
    if not _PACKING:
        import torch

        try:
            with torch.inference_mode():  # fixed numbers: the random generator's state stays as it was
                weight, bias = torch.linspace(-1, 1, 128).reshape(8, 16), torch.linspace(0, 1, 8)
                x = torch.linspace(-2, 2, 48).reshape(3, 16)
                packed = torch.ops.mkldnn._reorder_linear_weight(weight)
                out = torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")
                _PACKING.append(bool(torch.allclose(out, torch.nn.functional.linear(x, weight, bias), atol=1e-5)))
        except (AttributeError, RuntimeError, NotImplementedError):
            _PACKING.append(False)
    return _PACKING[0]


class Captioner:
    def __init__(self, model: str = DEFAULT_CAPTIONER, device: str = "auto", batch_size: int = 8, max_new_tokens: int = 30,
                 precision: str = "auto") -> None:
        self.model_id = model
        self.device_setting = device
        self.precision = precision
        self.batch_size = max(1, batch_size)
        self.max_new_tokens = max_new_tokens
        self._model: Any = None
        self._processor: Any = None
        self._grouped = False  # the cross-attention takes several rows per image
        self.device = "cpu"

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        if self._model is not None:
            return
        # On this machine, or the hub reachable: checked in seconds, before importing transformers
        # (seconds more) and before the hub client's retries (minutes).
        local = {"local_files_only": True} if locate(self.model_id, "captioner", "captioner") else {}
        from transformers import BlipForConditionalGeneration, BlipProcessor

        no_loading_bars()
        self.device = pick_device(self.device_setting)
        vision, text = precision_dtypes(self.precision, self.device)
        try:
            self._processor = BlipProcessor.from_pretrained(self.model_id, **local)
            model = BlipForConditionalGeneration.from_pretrained(self.model_id, dtype=text, **local)
        except (OSError, ValueError) as exc:
            raise model_load_error("captioner", self.model_id, "captioner", exc) from None
        self._model = model.to(self.device).eval()
        if vision != text:
            hand_over(convert(self._model.vision_model, vision), text)
        use_fused_vision_attention(self._model)
        self._grouped = use_grouped_cross_attention(self._model) > 0
        if self.device == "cpu":
            use_cpu_threads()
            # The output layer too (tied to the word embedding, a 94 MB copy for BLIP base): at a
            # batch of 8 its plain product took about a fifth of each decode step.
            pack_linear_layers(self._model, tied=True)

    def caption(self, images: Sequence[Any], prompt: str | None = None) -> list[str]:
        """One caption per image, in order. With ``prompt``, BLIP continues that text (a
        conditional caption) and the prompt is removed from the result."""
        return [texts[0] or "" for texts in self._captions(images, [prompt])]

    def caption_pair(self, images: Sequence[Any], prompt: str,
                     wanted: Callable[[int, str], bool] | None = None) -> list[tuple[str, str | None]]:
        """(plain caption, caption continuing ``prompt``) per image. The vision encoder, most of
        the cost, runs once for both, and both are decoded together. With ``wanted`` (the image's
        index and plain caption -> whether the second is needed), the second is None where it is
        not, and its decoding stops as soon as the plain caption ends."""
        return [(plain or "", second) for plain, second in self._captions(images, [None, prompt], wanted)]

    def _captions(self, images: Sequence[Any], prompts: Sequence[str | None],
                  wanted: Callable[[int, str], bool] | None = None) -> list[tuple[str | None, ...]]:
        import torch

        self.load()
        out: list[tuple[str | None, ...]] = []
        for start in range(0, len(images), self.batch_size):
            batch = list(images[start : start + self.batch_size])
            pixels = self._processor(images=batch, return_tensors="pt")["pixel_values"].to(self.device, self._model.vision_model.dtype)
            with torch.inference_mode():
                embeds = self._model.vision_model(pixel_values=pixels)[0]
                out.extend(self._decode(embeds, prompts, None if wanted is None else lambda k, text, start=start: wanted(start + k, text)))
        return out

    def _cross_attention(self, embeds: Any) -> Any:
        """The text decoder's cross-attention keys and values of ``embeds``, every layer, as the
        decoder computes them on its first step: computed once for both captions of a batch, not
        once per caption. None for a decoder of another shape (it then computes its own)."""
        from transformers.cache_utils import DynamicCache

        try:
            layers = [layer.crossattention.self for layer in self._model.text_decoder.bert.encoder.layer]
            cache = DynamicCache()
            for index, attention in enumerate(layers):
                shape = (*embeds.shape[:-1], -1, attention.attention_head_size)
                cache.update(attention.key(embeds).view(shape).transpose(1, 2), attention.value(embeds).view(shape).transpose(1, 2), index)
        except AttributeError:
            return None
        return cache

    def _decode(self, embeds: Any, prompts: Sequence[str | None],
                wanted: Callable[[int, str], bool] | None = None) -> list[tuple[str | None, ...]]:
        """The text decoder on precomputed image embeddings, greedy, as
        BlipForConditionalGeneration.generate runs it: a prompt's tokens (or none) after BOS, up to
        SEP or ``max_new_tokens``. Every prompt at once, one row per image and prompt (row
        ``j * images + k``), each step reading the decoder's weights, and each image's
        cross-attention keys and values (see ``_cross_attention``), once for all of them. Shorter
        prompts are padded on the left, masked, with each row's own positions. With ``wanted`` (the
        image's index and its first caption -> whether the others are needed), an image's other
        rows stop, and give None, as soon as its first caption ends and is not wanted. The texts
        per image, in the order of ``prompts``."""
        import torch
        from transformers.cache_utils import DynamicCache, EncoderDecoderCache, StaticCache

        config = self._model.config.text_config
        images, device = embeds.shape[0], embeds.device
        rows = images * len(prompts)
        cross = self._cross_attention(embeds) if self._grouped or len(prompts) == 1 else None
        if cross is None:  # a decoder of another shape, or a cross-attention that takes one row per image: each row computes its own
            cross, embeds = DynamicCache(), embeds.repeat(len(prompts), 1, 1)
        starts = []
        for prompt in prompts:
            ids = self._processor.tokenizer(prompt)["input_ids"][:-1] if prompt else [self._model.decoder_input_ids]
            starts.append([config.bos_token_id, *ids[1:]])
        width = max(len(ids) for ids in starts)
        tokens = torch.full((rows, width), config.pad_token_id, dtype=torch.long, device=device)
        mask = torch.zeros((rows, width), dtype=torch.long, device=device)
        positions = torch.zeros((rows, width), dtype=torch.long, device=device)
        for j, ids in enumerate(starts):
            part = slice(j * images, (j + 1) * images)
            tokens[part, width - len(ids):] = torch.tensor(ids, device=device)
            mask[part, width - len(ids):] = 1
            positions[part, width - len(ids):] = torch.arange(len(ids), device=device)
        following = positions[:, -1] + 1  # each row's next position
        # Each row's own tokens in a cache preallocated for all of them, written in place (a growing
        # one copies every row and layer at each step).
        cache = EncoderDecoderCache(StaticCache(config=config, max_cache_len=width + self.max_new_tokens), cross)
        generated: list[Any] = []
        running = torch.ones(rows, dtype=torch.bool, device=device)
        firsts: dict[int, str] = {}  # the first captions that have ended, by image
        unwanted: set[int] = set()

        def text(row: int) -> str:
            prompt, start = prompts[row // images], starts[row // images]
            words = " ".join(self._processor.decode([*start, *(step[row] for step in generated)], skip_special_tokens=True).split())
            return words[len(prompt):].strip() if prompt and words.lower().startswith(prompt.lower()) else words

        def ask(k: int) -> None:
            """Image ``k``'s first caption has ended: stop its other rows if they are not wanted."""
            firsts[k] = text(k)
            if wanted is not None and len(prompts) > 1 and not wanted(k, firsts[k]):
                unwanted.add(k)
                running[images + k :: images] = False

        for _ in range(self.max_new_tokens):
            logits = self._model.text_decoder(input_ids=tokens, attention_mask=mask, position_ids=positions, encoder_hidden_states=embeds,
                                              cache=cache, use_cache=True, is_decoder=True, logits_to_keep=1).logits[:, -1]
            chosen = torch.where(running, logits.argmax(-1), config.pad_token_id)
            generated.append(chosen.tolist())
            running &= chosen != config.sep_token_id
            for k, going in enumerate(running[:images].tolist()):
                if not going and k not in firsts:
                    ask(k)
            if not running.any():
                break
            tokens, positions, following = chosen[:, None], following[:, None], following + 1
            mask = torch.cat([mask, mask.new_ones((rows, 1))], dim=1)
        for k in range(images):
            if k not in firsts:
                ask(k)
        return [(firsts[k], *(None if k in unwanted else text(j * images + k) for j in range(1, len(prompts)))) for k in range(images)]
