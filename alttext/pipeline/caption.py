"""Stage 2: BLIP captions, batched and greedy. Torch and transformers load here, and only here.

Uses BlipForConditionalGeneration and BlipProcessor directly (the image-to-text pipeline is gone
in transformers 5). The model loads once, on first use, and stays on the instance.

The fast path (fused vision attention, both captions decoded together in alttext's own loop,
packed linear layers) relies on library internals. Each is checked at load, on a probe against
the public computation; one that is missing or gives other numbers is not used, one warning line
says so, and BLIP's own ``generate()`` (or the plain layer) runs instead: slower, the same
captions. ``fast_path=False`` runs the public path alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from alttext import messages
from alttext.pipeline.models import ModelLoadError, Unusable, locate, warn_public_path

# The internals the fast path needs, as the warning names them.
VISION_ATTENTION = "transformers' BlipAttention (qkv, projection, num_heads, head_dim, scale)"
GROUPED_CROSS_ATTENTION = "transformers' BlipTextSelfAttention and EncoderDecoderCache (grouped cross-attention)"
DECODE_LOOP = "transformers' BLIP text decoder with cache= and StaticCache (alttext's decode loop)"
PACKING = "torch.ops.mkldnn._reorder_linear_weight and _linear_pointwise (packed linear layers)"
PAGE_DROPPING = "madvise(MADV_DONTNEED) through ctypes on /proc/self/maps (releasing replaced weights)"

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


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (``avx512_bf16``, ``amx_bf16``, …); none where
    there is no such file (macOS, Windows)."""
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU does bf16 arithmetic natively (AVX512-BF16 or AMX); elsewhere bf16 is
    emulated and slower than fp32."""
    return bool(cpu_flags(cpuinfo) & {"avx512_bf16", "amx_bf16"})


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


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Within it, the loggers of torchao and of torch's pytree say only errors. Where torchao is
    installed, transformers imports it to load any model, and torchao logs each optional kernel
    it cannot load, and torch a deprecation for each of its enums: lines on stderr that a user
    can do nothing about."""
    import logging

    loggers = [logging.getLogger(name) for name in ("torchao", "torch.utils._pytree")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


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


def convert(module: Any, dtype: Any, release: bool = True) -> Any:
    """``module.to(dtype)``, without keeping the weights it replaces in memory: where they were
    read from the memory-mapped checkpoint, their pages are dropped (see ``_drop_pages``), as
    packing does. ``release=False``: the replaced weights' pages stay until the checkpoint's
    mapping goes (the public path). Returns the module."""
    files = _file_mappings() if release else []
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


def probe_values(shape: tuple[int, ...], dtype: Any) -> Any:
    """Fixed numbers in [-1, 1] of this shape for a probe: the random generator's state stays as
    it was, so a probe at load changes no seeded result."""
    import math

    import torch

    return torch.sin(torch.arange(math.prod(shape), dtype=torch.float32) * 0.7 + 0.3).reshape(shape).to(dtype)


def _tolerance(dtype: Any) -> float:
    """How far (relative, over a whole output) the fast path may be from the public computation:
    another summation order in fp32; bf16 and fp16 round every intermediate result."""
    import torch

    return 1e-3 if dtype in (torch.float32, torch.float64) else 5e-2


def differs(got: Any, want: Any, dtype: Any) -> bool:
    """Whether ``got`` is further from ``want`` than another summation order, or precision, makes it."""
    got, want = got.float(), want.float()
    return got.shape != want.shape or bool((got - want).norm() > _tolerance(dtype) * max(got.norm(), want.norm()))


def _restore(layers: Sequence[Any]) -> None:
    """Give these layers their class's own forward back."""
    for layer in layers:
        vars(layer).pop("forward", None)


def use_fused_vision_attention(model: Any) -> int:
    """Give the vision encoder's attention layers PyTorch's fused attention (SDPA) in place of
    BLIP's own, which writes out every 577 x 577 score matrix, then scales and softmaxes it in
    separate passes. The same arithmetic in the same precision (no dropout: the model is in eval
    mode). Returns how many layers changed (0: no BLIP vision attention in ``model``). Unusable,
    and no layer changed, where BLIP's layers are not laid out as this expects or give other
    outputs than BLIP's own on a probe."""
    import types

    import torch

    try:
        from transformers.models.blip.modeling_blip import BlipAttention
    except ImportError:
        raise Unusable(VISION_ATTENTION) from None
    layers = [module for module in model.modules() if type(module) is BlipAttention]
    if not layers:
        return 0
    if not all(hasattr(layer, a) for layer in layers for a in ("qkv", "projection", "num_heads", "head_dim", "scale")):
        raise Unusable(VISION_ATTENTION)
    for layer in layers:
        layer.forward = types.MethodType(_fused_attention_forward, layer)
    first, dtype = layers[0], layers[0].qkv.weight.dtype
    try:
        with torch.inference_mode():
            hidden = probe_values((2, 5, first.qkv.in_features), dtype)
            fused, own = first(hidden)[0], BlipAttention.forward(first, hidden)[0]
        wrong = differs(fused, own, dtype)
    except Exception:  # anything going wrong in a probe means the public path
        wrong = True
    if wrong:
        _restore(layers)
        raise Unusable(VISION_ATTENTION)
    return len(layers)


def _fused_attention_forward(self: Any, hidden_states: Any, **kwargs: Any) -> tuple[Any, None]:
    """BlipAttention.forward through ``scaled_dot_product_attention``; no attention weights."""
    import torch

    rows, length, width = hidden_states.shape
    qkv = self.qkv(hidden_states).reshape(rows, length, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
    out = torch.nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], scale=self.scale)
    return self.projection(out.transpose(1, 2).reshape(rows, length, width)), None


def _cross_attention_layers(model: Any) -> list[Any]:
    """The text decoder's cross-attention layers that can take several rows per image."""
    try:
        from transformers.models.blip.modeling_blip_text import BlipTextSelfAttention
    except ImportError:
        raise Unusable(GROUPED_CROSS_ATTENTION) from None
    return [module for name, module in model.named_modules() if name.endswith("crossattention.self") and type(module) is BlipTextSelfAttention]


def use_grouped_cross_attention(model: Any) -> int:
    """Let the text decoder's cross-attention take several rows per image: the captions of one
    image (plain, and continuing a prompt) then read its cached keys and values once per step for
    all of them, instead of once per caption. Any other call keeps BLIP's own code. Returns how
    many layers changed (0: no BLIP text decoder in ``model``). Unusable, and no layer changed,
    where BLIP's layers are not laid out as this expects. The captioner's decode probe checks
    the arithmetic."""
    import types

    layers = _cross_attention_layers(model)
    if not all(hasattr(layer, a) for layer in layers for a in ("query", "attention_head_size", "layer_idx")):
        raise Unusable(GROUPED_CROSS_ATTENTION)
    for layer in layers:
        layer.forward = types.MethodType(_grouped_cross_attention_forward, layer)
    return len(layers)


def _grouped_keys_values(self: Any, cache: Any, rows: int, encoder_hidden_states: Any, encoder_attention_mask: Any) -> tuple[Any, Any] | None:
    """This layer's cached cross-attention keys and values, one row per image, where ``rows``
    queries (a whole number of rows per image, more than one) can read them grouped; else None."""
    from transformers.cache_utils import EncoderDecoderCache

    if not (isinstance(cache, EncoderDecoderCache) and encoder_hidden_states is not None and encoder_attention_mask is None
            and cache.is_updated.get(self.layer_idx)):
        return None
    layer = cache.cross_attention_cache.layers[self.layer_idx]
    keys, values = layer.keys, layer.values
    if keys is None or keys.shape[0] >= rows or rows % keys.shape[0]:
        return None
    return keys, values


def _grouped_cross_attention_forward(self: Any, hidden_states: Any, attention_mask: Any = None, encoder_hidden_states: Any = None,
                                     encoder_attention_mask: Any = None, cache: Any = None, **kwargs: Any) -> tuple[Any, Any]:
    """BlipTextSelfAttention.forward where the cached keys and values hold one row per image and
    the queries ``g`` rows per image, row ``j * images + k`` for image ``k``: BLIP's arithmetic
    (scores over the square root of the head size, softmax, no dropout in eval mode), with each
    image's keys and values read once for its ``g`` rows. No attention weights."""
    import math

    import torch

    rows, length = hidden_states.shape[:2]
    cached = _grouped_keys_values(self, cache, rows, encoder_hidden_states, encoder_attention_mask)
    if cached is None:
        return type(self).forward(self, hidden_states, attention_mask=attention_mask, encoder_hidden_states=encoder_hidden_states,
                                  encoder_attention_mask=encoder_attention_mask, cache=cache, **kwargs)
    keys, values = cached
    images, heads, _, size = keys.shape
    group = rows // images
    query = self.query(hidden_states).view(group, images, length, heads, size).permute(1, 3, 0, 2, 4).reshape(images, heads, group * length, size)
    scores = torch.matmul(query, keys.transpose(-1, -2)) / math.sqrt(size)
    context = torch.matmul(torch.softmax(scores, dim=-1), values)
    return context.view(images, heads, group, length, size).permute(2, 0, 3, 1, 4).reshape(rows, length, heads * size), None


def pack_linear_layers(model: Any, tied: bool = False, release: bool = True) -> int:
    """On CPU, give each linear layer its weight reordered once into oneDNN's blocked layout, and
    the oneDNN kernel that reads it, in place of the plain row-major weight that the default
    matrix product reads on every call: with a few rows per call (a decode step), reading the
    weights is the cost. The same dtype and arithmetic (at most another summation order, as with
    another thread count). The plain weight is released, and, with ``release``, where it was read
    from the memory-mapped checkpoint its pages are dropped from memory, so the model does not
    take twice the memory. A weight shared with another parameter (an output layer tied to the
    input embedding) stays as it is, or with ``tied``, stays and its layer gets a packed copy too
    (more memory, by the size of that weight). Layers of other types stay as they are. Returns how
    many layers changed (0 where this torch packs none of the model's dtypes here). Unusable where
    oneDNN is there but its packing ops are missing or give another product (see
    ``packable_dtypes``), or fail on one of the model's layers (the layers packed before it work,
    and stay packed)."""
    import types

    import torch

    dtypes = packable_dtypes()
    if not dtypes:
        return 0
    shared = _tied_parameters(model)
    files = _file_mappings() if release else []
    changed = 0
    for module in list(model.modules()):
        weight = getattr(module, "weight", None)
        if type(module) is not torch.nn.Linear or not isinstance(weight, torch.Tensor) or weight.device.type != "cpu":
            continue
        keep = weight.data_ptr() in shared
        if (keep and not tied) or weight.dtype not in dtypes:
            continue
        try:
            with torch.no_grad():
                packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach())
        except (AttributeError, RuntimeError, NotImplementedError, TypeError):
            # A layer the probe's shapes did not foresee: it, and the layers after it, stay plain.
            raise Unusable(PACKING) from None
        module.packed_weight = packed
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
    """The address ranges this process has mapped from files, where their pages can be dropped
    (Linux, see ``page_dropping_works``); none elsewhere."""
    if not page_dropping_works():
        return []
    return _mapped_files()


def _mapped_files() -> list[tuple[int, int]]:
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
    import mmap

    if not any(start <= address and address + size <= end for start, end in files):
        return
    page = mmap.PAGESIZE
    first, last = -(-address // page) * page, (address + size) // page * page
    if last > first:
        _madvise_dontneed(first, last - first)


def _madvise_dontneed(address: int, size: int) -> bool:
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).madvise(ctypes.c_void_p(address), ctypes.c_size_t(size), 4) == 0  # MADV_DONTNEED
    except (OSError, AttributeError):
        return False


_DROPPING: list[bool] = []  # whether pages of a file mapping can be dropped in this process, once checked


def page_dropping_works() -> bool:
    """Whether this process can drop the pages of a file mapping it no longer reads: Linux lists
    its mappings in /proc/self/maps and libc's ``madvise`` takes MADV_DONTNEED. Checked once per
    process on two pages of a temporary file: the mapping is listed, the call succeeds, and the
    bytes read back from the file. False on other systems."""
    if not _DROPPING:
        import sys

        _DROPPING.append(sys.platform.startswith("linux") and _probe_page_dropping())
    return _DROPPING[0]


def _probe_page_dropping() -> bool:
    import ctypes
    import mmap
    import tempfile

    page = mmap.PAGESIZE
    data = bytes(range(256)) * (2 * page // 256)
    try:
        with tempfile.TemporaryFile() as f:
            f.write(data)
            f.flush()
            mapped = mmap.mmap(f.fileno(), len(data), access=mmap.ACCESS_COPY)
            try:
                view = ctypes.c_char.from_buffer(mapped)
                address = ctypes.addressof(view)
                try:
                    listed = any(start <= address and address + len(data) <= end for start, end in _mapped_files())
                    return listed and mapped[:] == data and _madvise_dontneed(address, len(data)) and mapped[:] == data
                finally:
                    del view
            finally:
                mapped.close()
    except Exception:  # anything going wrong in a probe means the pages stay
        return False


def _packed_linear_forward(self: Any, x: Any) -> Any:
    import torch

    return torch.ops.mkldnn._linear_pointwise(x, self.packed_weight, self.bias, "none", [], "")


_PACKABLE: list[frozenset[Any] | Unusable] = []  # what packable_dtypes found in this process, once checked


def packable_dtypes() -> frozenset[Any]:
    """The dtypes of the linear layers this torch packs for oneDNN here: fp32, and bf16 where the
    CPU does it natively. Empty on a torch without oneDNN and off x86-64, where packing was never
    measured. Checked once per process, each dtype's packed product against the plain one on
    fixed numbers. Unusable where oneDNN is there but its packing ops are missing or give another
    product."""
    if not _PACKABLE:
        _PACKABLE.append(_check_packing())
    found = _PACKABLE[0]
    if isinstance(found, Unusable):
        raise found
    return found


def _check_packing() -> frozenset[Any] | Unusable:
    import platform

    import torch

    if platform.machine().lower() not in ("x86_64", "amd64") or not torch.backends.mkldnn.is_available():
        return frozenset()
    try:
        dtypes = [torch.float32]
        if torch.ops.mkldnn._is_mkldnn_bf16_supported():
            dtypes.append(torch.bfloat16)
        with torch.inference_mode():
            for dtype in dtypes:
                weight, bias, x = probe_values((8, 16), dtype), probe_values((8,), dtype), probe_values((3, 16), dtype) * 2
                packed = torch.ops.mkldnn._reorder_linear_weight(weight)
                out = torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")
                if differs(out, torch.nn.functional.linear(x, weight, bias), dtype):
                    return Unusable(PACKING)
    except Exception:  # anything going wrong in a probe means plain layers
        return Unusable(PACKING)
    return frozenset(dtypes)


class Captioner:
    def __init__(self, model: str = DEFAULT_CAPTIONER, device: str = "auto", batch_size: int = 8, max_new_tokens: int = 30,
                 precision: str = "auto", fast_path: bool = True) -> None:
        self.model_id = model
        self.device_setting = device
        self.precision = precision
        self.batch_size = max(1, batch_size)
        self.max_new_tokens = max_new_tokens
        self.fast_path = fast_path  # False: BLIP's own generate() and plain layers, no library internals
        self._model: Any = None
        self._processor: Any = None
        self._fast = False  # alttext's own decode loop (else BLIP's generate()), decided at load
        self._grouped = False  # the cross-attention takes several rows per image
        self._packed = 0  # linear layers packed for oneDNN
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
        with quiet_loading():
            from transformers import BlipForConditionalGeneration, BlipProcessor

        no_loading_bars()
        self.device = pick_device(self.device_setting)
        vision, text = precision_dtypes(self.precision, self.device)
        try:
            self._processor = BlipProcessor.from_pretrained(self.model_id, **local)
            with quiet_loading():
                model = BlipForConditionalGeneration.from_pretrained(self.model_id, dtype=text, **local)
        except (OSError, ValueError) as exc:
            raise model_load_error("captioner", self.model_id, "captioner", exc) from None
        model = model.to(self.device).eval()
        if vision != text:
            hand_over(convert(model.vision_model, vision, release=self.fast_path), text)
        if self.device == "cpu":
            use_cpu_threads()
        self._model = model
        missing = self._use_fast_path() if self.fast_path else []
        if self.fast_path and (vision != text or self._packed) and on_linux() and not page_dropping_works():
            missing.append(PAGE_DROPPING)
        warn_public_path("captioner", missing)

    def _use_fast_path(self) -> list[str]:
        """Turn on each part of the fast path whose internals are here and behave; the names of
        the others."""
        missing = []
        model = self._model
        try:
            if use_fused_vision_attention(model) == 0:
                raise Unusable(VISION_ATTENTION)
        except Unusable as exc:
            missing.append(str(exc))
        if self.device == "cpu":
            try:
                # The output layer too (tied to the word embedding): its plain product is a large
                # part of each decode step. A packed copy of it costs its size in memory (94 MB for
                # BLIP base).
                self._packed = pack_linear_layers(model, tied=True)
            except Unusable as exc:
                missing.append(str(exc))
        try:
            self._grouped = use_grouped_cross_attention(model) > 0
            if not self._grouped:
                raise Unusable(GROUPED_CROSS_ATTENTION)
        except Unusable as exc:
            missing.append(str(exc))
        self._fast = self._decoder_agrees()
        if not self._fast and self._grouped:  # without the grouped cross-attention, perhaps
            self._ungroup()
            self._fast = self._decoder_agrees()
            if self._fast:
                missing.append(GROUPED_CROSS_ATTENTION)
        if not self._fast:
            self._ungroup()
            missing.append(DECODE_LOOP)
        return missing

    def _ungroup(self) -> None:
        if self._grouped:
            _restore(_cross_attention_layers(self._model))
            self._grouped = False

    def _decoder_agrees(self) -> bool:
        """Whether alttext's decode loop, on fixed image embeddings (two images, a plain caption
        and one continuing a prompt, each), gives the logits of BLIP's text decoder run over the
        whole rows, step after step; and, with the grouped cross-attention, whether the loop's
        cache lets it read each image's keys and values once."""
        import torch

        decoder = self._model.text_decoder
        try:
            from transformers.cache_utils import DynamicCache, EncoderDecoderCache

            dtype = decoder.dtype
            with torch.inference_mode():
                embeds = probe_values((2, 3, self._model.config.vision_config.hidden_size), dtype)
                if self._grouped:
                    cross = self._cross_attention(embeds)
                    layer = _cross_attention_layers(self._model)[0]
                    if cross is None or _grouped_keys_values(layer, EncoderDecoderCache(DynamicCache(), cross), 4, embeds, None) is None:
                        return False
                steps: list[tuple[Any, Any]] = []
                self._decode(embeds, [None, "a"], seen=steps, tokens=2)  # the prompts, then one token
                for j, prompt in enumerate([None, "a"]):
                    start = self._start(prompt)
                    rows = slice(2 * j, 2 * j + 2)
                    ids = torch.tensor([start] * 2, device=embeds.device)
                    ids = torch.cat([ids, torch.stack([chosen[rows] for _, chosen in steps[:-1]], dim=1)], dim=1) if len(steps) > 1 else ids
                    logits = decoder(input_ids=ids, encoder_hidden_states=embeds, is_decoder=True).logits
                    for s, (got, _) in enumerate(steps):
                        if differs(got[rows], logits[:, len(start) - 1 + s], dtype):
                            return False
        except Exception:  # anything going wrong in a probe means the public path
            return False
        return bool(steps)

    def caption(self, images: Sequence[Any], prompt: str | None = None) -> list[str]:
        """One caption per image, in order. With ``prompt``, BLIP continues that text (a
        conditional caption) and the prompt is removed from the result."""
        return [texts[0] or "" for texts in self._captions(images, [prompt])]

    def caption_pair(self, images: Sequence[Any], prompt: str,
                     wanted: Callable[[int, str], bool] | None = None) -> list[tuple[str, str | None]]:
        """(plain caption, caption continuing ``prompt``) per image. On the fast path the vision
        encoder, most of the cost, runs once for both, and both are decoded together. With ``wanted`` (the image's
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
            offset = None if wanted is None else lambda k, text, start=start: wanted(start + k, text)
            with torch.inference_mode():
                if self._fast:
                    embeds = self._model.vision_model(pixel_values=pixels)[0]
                    out.extend(self._decode(embeds, prompts, offset))
                else:
                    out.extend(self._generate(pixels, prompts, offset))
        return out

    def _generate(self, pixels: Any, prompts: Sequence[str | None],
                  wanted: Callable[[int, str], bool] | None = None) -> list[tuple[str | None, ...]]:
        """The public path: BLIP's own greedy ``generate()``, once per prompt (each runs the vision
        encoder again). With ``wanted``, the second prompt only for the images whose first caption
        asks for it. The texts per image, in the order of ``prompts``."""
        images = pixels.shape[0]
        texts: list[list[str | None]] = [[None] * len(prompts) for _ in range(images)]
        todo = list(range(images))
        for j, prompt in enumerate(prompts):
            if j == 1 and wanted is not None:
                todo = [k for k in todo if wanted(k, texts[k][0] or "")]
            if not todo:
                break
            kwargs: dict[str, Any] = {}
            if prompt:
                encoded = self._processor.tokenizer([prompt] * len(todo), return_tensors="pt").to(self.device)
                kwargs = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
            ids = self._model.generate(pixel_values=pixels[todo], max_new_tokens=self.max_new_tokens, do_sample=False, num_beams=1, **kwargs)
            for k, row in zip(todo, ids.tolist()):
                texts[k][j] = self._text(prompt, row)
        return [tuple(t) for t in texts]

    def _text(self, prompt: str | None, tokens: Sequence[int]) -> str:
        """A row's caption: its tokens as words, without the prompt it continues."""
        words = " ".join(self._processor.decode(list(tokens), skip_special_tokens=True).split())
        return words[len(prompt):].strip() if prompt and words.lower().startswith(prompt.lower()) else words

    def _start(self, prompt: str | None) -> list[int]:
        """The tokens a caption starts from, as BLIP's ``generate()`` makes them: BOS, then the
        prompt's tokens (without the tokenizer's closing SEP)."""
        ids = self._processor.tokenizer(prompt)["input_ids"][:-1] if prompt else [self._model.decoder_input_ids]
        return [self._model.config.text_config.bos_token_id, *ids[1:]]

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

    def _decode(self, embeds: Any, prompts: Sequence[str | None], wanted: Callable[[int, str], bool] | None = None,
                seen: list[tuple[Any, Any]] | None = None, tokens: int | None = None) -> list[tuple[str | None, ...]]:
        """The text decoder on precomputed image embeddings, greedy, as
        BlipForConditionalGeneration.generate runs it: a prompt's tokens (or none) after BOS, up to
        SEP or ``max_new_tokens`` (or ``tokens``). Every prompt at once, one row per image and
        prompt (row ``j * images + k``), each step reading the decoder's weights, and each image's
        cross-attention keys and values (see ``_cross_attention``), once for all of them. Shorter
        prompts are padded on the left, masked, with each row's own positions. With ``wanted`` (the
        image's index and its first caption -> whether the others are needed), an image's other
        rows stop, and give None, as soon as its first caption ends and is not wanted. ``seen``
        gets each step's logits and chosen tokens (the load-time probe). The texts per image, in
        the order of ``prompts``."""
        import torch
        from transformers.cache_utils import DynamicCache, EncoderDecoderCache, StaticCache

        config = self._model.config.text_config
        images, device = embeds.shape[0], embeds.device
        rows = images * len(prompts)
        steps = self.max_new_tokens if tokens is None else tokens
        cross = self._cross_attention(embeds) if self._grouped or len(prompts) == 1 else None
        if cross is None:  # a decoder of another shape, or a cross-attention that takes one row per image: each row computes its own
            cross, embeds = DynamicCache(), embeds.repeat(len(prompts), 1, 1)
        starts = [self._start(prompt) for prompt in prompts]
        width = max(len(ids) for ids in starts)
        tokens_ = torch.full((rows, width), config.pad_token_id, dtype=torch.long, device=device)
        mask = torch.zeros((rows, width), dtype=torch.long, device=device)
        positions = torch.zeros((rows, width), dtype=torch.long, device=device)
        for j, ids in enumerate(starts):
            part = slice(j * images, (j + 1) * images)
            tokens_[part, width - len(ids):] = torch.tensor(ids, device=device)
            mask[part, width - len(ids):] = 1
            positions[part, width - len(ids):] = torch.arange(len(ids), device=device)
        following = positions[:, -1] + 1  # each row's next position
        # Each row's own tokens in a cache preallocated for all of them, written in place (a growing
        # one copies every row and layer at each step).
        cache = EncoderDecoderCache(StaticCache(config=config, max_cache_len=width + steps), cross)
        generated: list[Any] = []
        running = torch.ones(rows, dtype=torch.bool, device=device)
        firsts: dict[int, str] = {}  # the first captions that have ended, by image
        unwanted: set[int] = set()

        def text(row: int) -> str:
            return self._text(prompts[row // images], [*starts[row // images], *(step[row] for step in generated)])

        def ask(k: int) -> None:
            """Image ``k``'s first caption has ended: stop its other rows if they are not wanted."""
            firsts[k] = text(k)
            if wanted is not None and len(prompts) > 1 and not wanted(k, firsts[k]):
                unwanted.add(k)
                running[images + k :: images] = False

        for _ in range(steps):
            logits = self._model.text_decoder(input_ids=tokens_, attention_mask=mask, position_ids=positions, encoder_hidden_states=embeds,
                                              cache=cache, use_cache=True, is_decoder=True, logits_to_keep=1).logits[:, -1]
            chosen = torch.where(running, logits.argmax(-1), config.pad_token_id)
            if seen is not None:
                seen.append((logits, chosen))
            generated.append(chosen.tolist())
            running &= chosen != config.sep_token_id
            for k, going in enumerate(running[:images].tolist()):
                if not going and k not in firsts:
                    ask(k)
            if not running.any():
                break
            tokens_, positions, following = chosen[:, None], following[:, None], following + 1
            mask = torch.cat([mask, mask.new_ones((rows, 1))], dim=1)
        for k in range(images):
            if k not in firsts:
                ask(k)
        return [(firsts[k], *(None if k in unwanted else text(j * images + k) for j in range(1, len(prompts)))) for k in range(images)]


def on_linux() -> bool:
    import sys

    return sys.platform.startswith("linux")
