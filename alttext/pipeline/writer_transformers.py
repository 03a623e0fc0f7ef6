"""The in-process writer: a causal LM (default Qwen/Qwen3-0.6B) through transformers.

Loaded once, on first use. Prompts go through the model's own chat template with thinking off.
Every prompt starts with the same system message, so the tokens a batch shares are run through
the model once, and their key/value cache is kept: the next batch, and the retry, run only the
shared tokens that differ. The caller may also keep the cache of a batch's rows (``keep``): a
retry, whose prompt is the first one with the broken rules added near the end, then runs only
what follows the part it shares with it. Each row then generates from a preallocated (static)
cache holding that prefix, padding, its own tokens and room for a typical answer (``ANSWER_ROOM``;
it grows when an answer needs more), so every row generates from its own last token and no token
copies the whole cache. On CPU, where alttext's own attention runs, the prefix is not copied into
each row: it stays one row outside the batch's cache, read once per step for all rows
(``prefix_attention``). On CPU the linear layers' weights are packed once for oneDNN
(``caption.pack_linear_layers``): the same bf16 or fp32 arithmetic, for decode steps of a few rows
whose cost is reading the weights. ``quantize="int8"`` (CPU) quantizes the linear layers with
torchao's dynamic int8 quantization instead, and ``"auto"`` does so where it is the faster
(``quantization``). Sampling uses the settings Qwen3 recommends for
non-thinking use (temperature 0.6, top_p 0.95, top_k 20; a temperature of 0 is greedy), in
alttext's own decode loop: ``generate()``'s arithmetic, without its per-token sort of and draw
from the whole vocabulary, and, on CPU, attention for the one new token per row without copying
the cache. The draws come from one generator per batch, so a batch is seeded from its images'
seeds together: the same images in the same batches give the same text on a rerun.

All of that fast path relies on transformers and torch internals (the cache's layers, the
``cache=`` keyword, the attention interface, oneDNN's packing ops). Each is checked at load, on a
probe against the public computation; where one is missing or gives other numbers, it is not
used, one warning line says so, and the public path runs: ``generate()`` on left-padded batches
with a static cache, the same sampling settings, the same seeds (other draws from the same
distribution). ``fast_path=False`` runs the public path alone.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alttext import messages
from alttext.pipeline.caption import (
    PAGE_DROPPING,
    differs,
    on_linux,
    probe_values,
    cpu_flags,
    cpu_has_bf16,
    model_load_error,
    no_loading_bars,
    pack_linear_layers,
    page_dropping_works,
    pick_device,
    quiet_loading,
    use_cpu_threads,
)
from alttext.pipeline.models import ModelLoadError, Unusable, locate, warn_public_path

DEFAULT_WRITER = "Qwen/Qwen3-0.6B"
# Tokens an answer may take: an alt text of the longest default budget (187 English characters, 90
# Chinese) is 50 to 90 tokens. A small model that rambles on stops here instead of at 256; what
# it says past the budget is cut by cleaning anyway.
ANSWER_TOKENS = 160

# The internals the fast path needs, as the warning names them.
DECODE_LOOP = "transformers' cache= keyword, StaticCache and DynamicCache layers (alttext's decode loop)"
ATTENTION = "transformers' AttentionInterface, sdpa_mask, sdpa_attention_forward and config._attn_implementation (alttext's decode attention)"
INT8 = "torchao's quantize_ with Int8DynamicActivationInt8WeightConfig (the int8 writer)"


@dataclass
class _Batch:
    """A batch as written: each row's prompt tokens, the mask of the prompt's columns, the cache,
    and from which token a kept row's cache is taken: the end of the instructions (the system
    message and the worked examples) every prompt of the language and kind starts with, so that a
    retry batch whose rows share less than this batch's did (captions that start alike here, not
    there) still takes it."""

    rows: list[list[int]]
    mask: Any
    cache: Any
    start: int
    shared: int = 0  # with a separate prefix: its length (the cache holds the columns after it)
    prefix: list[tuple[Any, Any]] | None = None  # the prefix's keys and values per layer, one row, or None


@dataclass
class _Kept:
    """One row's cache for its prompt tokens from ``start`` on: per layer, (kv heads, tokens, dim)."""

    tokens: list[int]
    start: int
    keys: list[Any]
    values: list[Any]


def _common(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` have in common."""
    n = min(len(a), len(b))
    return next((k for k in range(n) if a[k] != b[k]), n)


def quantization(setting: str, device: str = "cpu", cpuinfo: str = "/proc/cpuinfo") -> str:
    """What ``quantize`` means here: "int8" or "none". "auto" is int8 on an x86-64 CPU without
    AMX where torchao is installed, and none elsewhere. bench_pipeline.py measured the int8 writer
    faster than the bf16 one on CPUs without AMX and slower with it, whose matrix unit runs bf16
    (benchmarks/README.md); other CPUs were not measured. "int8" applies on CPU only."""
    if setting != "auto":
        return setting if device != "cuda" else "none"
    flags = cpu_flags(cpuinfo)
    x86 = "sse2" in flags  # Linux lists flags; an x86-64 CPU always has SSE2
    return "int8" if device != "cuda" and x86 and "amx_bf16" not in flags and _installed("torchao") else "none"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # in sys.modules as None: taken away
        return False


def gguf_source(model: str) -> tuple[str, dict[str, str]]:
    """Where ``from_pretrained`` finds a model: a ``.gguf`` file (as Ollama and LM Studio keep them)
    loads from its folder with ``gguf_file``; a hub id or a folder as it is."""
    if model.lower().endswith(".gguf") and os.path.isfile(model):
        folder, name = os.path.split(os.path.abspath(model))
        return folder, {"gguf_file": name}
    return model, {}


def seed_for(image_sha256: str) -> int:
    """A per-image seed from its content hash."""
    return int(image_sha256[:8], 16)


def _batch_seed(seeds: Sequence[int | None]) -> int:
    digest = hashlib.sha256(",".join(str(s) for s in seeds).encode()).hexdigest()
    return int(digest[:8], 16)


class TransformersWriter:
    def __init__(
        self,
        model: str = DEFAULT_WRITER,
        device: str = "auto",
        batch_size: int = 8,
        temperature: float = 0.6,
        top_p: float = 0.95,
        top_k: int = 20,
        max_new_tokens: int = ANSWER_TOKENS,
        quantize: str = "none",
        fast_path: bool = True,
    ) -> None:
        self.model_id = model
        self.device_setting = device
        self.batch_size = max(1, batch_size)
        self.temperature, self.top_p, self.top_k = temperature, top_p, top_k
        self.max_new_tokens = max_new_tokens
        self.quantize = quantize
        self.fast_path = fast_path  # False: generate() and plain layers, no library internals
        self.device = "cpu"
        self._fast = False  # alttext's own decode loop (else generate()), decided at load
        self._int8 = False  # the linear layers quantized to int8, decided at load
        self._static_cache = True  # generate() with a static cache, until the model refuses one
        self._model: Any = None
        self.tokenizer: Any = None
        # The last shared prefix run (its tokens and KV cache, one row). Every prompt starts with
        # the same instructions, so the next batch, and the retry, start from it.
        self._prefix: tuple[list[int], Any] | None = None
        self.prefix_tokens_run = 0  # prefix tokens the model actually ran (the rest were reused)
        self._last: _Batch | None = None  # the last batch written, until keep() or the next batch
        self._kept: list[_Kept] = []  # rows kept for a retry
        self._growable: bool | None = None  # whether the model's preallocated cache can grow (see _room)

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        if self._model is not None:
            return
        source, options = gguf_source(self.model_id)
        gguf = bool(options)
        # transformers reads a GGUF file with the gguf package, and loads it with accelerate.
        missing = [m for m in ("gguf", "accelerate") if gguf and not _installed(m)]
        if missing:
            raise ModelLoadError(messages.GGUF_NEEDS.format(model=self.model_id, module=" and ".join(missing)))
        # On this machine, or the hub reachable: checked in seconds, before importing torch and
        # transformers (seconds more) and before the hub client's retries (minutes).
        if locate(self.model_id, "writer", "writer_model"):
            options = {**options, "local_files_only": True}
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        no_loading_bars()
        self.device = pick_device(self.device_setting)
        int8 = self.device == "cpu" and quantization(self.quantize, self.device) == "int8"
        if int8 and not _installed("torchao"):
            raise ModelLoadError(messages.INT8_NEEDS)
        # bf16 is Qwen3's own precision: on a GPU, and on a CPU with native bf16 arithmetic, it
        # halves the memory and is faster. int8 quantization starts from the same weights (from
        # bf16 rather than fp32, its peak memory is 1.7 GB lower, at the same speed).
        native = self.device == "cuda" or (self.device == "cpu" and cpu_has_bf16())
        dtype = torch.bfloat16 if native else torch.float32
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **options)
            with quiet_loading():
                model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **options)
        except (OSError, ValueError) as exc:
            raise model_load_error("writer", self.model_id, "writer_model", exc) from None
        except Exception as exc:  # a GGUF file the reader cannot parse fails in its own ways
            if not gguf:
                raise
            raise model_load_error("writer", self.model_id, "writer_model", ValueError(f"not a GGUF file transformers can read ({exc})")) from None
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.tokenizer = tokenizer
        model = model.to(self.device).eval()
        missing: list[str] = []
        packed = 0
        if self.device == "cpu":
            use_cpu_threads()
            if int8:
                try:
                    quantize_int8(model)
                    self._int8 = True
                except Unusable as exc:
                    if self.quantize == "int8":  # asked for; "auto" quietly keeps the unquantized writer
                        missing.append(str(exc))
            if self.fast_path and not self._int8:
                try:
                    packed = pack_linear_layers(model)
                except Unusable as exc:
                    missing.append(str(exc))
        self._model = model
        if self.fast_path:
            missing += self._use_fast_path()
            if packed and on_linux() and not page_dropping_works():
                missing.append(PAGE_DROPPING)
        warn_public_path("writer", missing)

    def _use_fast_path(self) -> list[str]:
        """Turn on alttext's decode attention (CPU) and decode loop where their internals are here
        and give the public forward's logits on a probe; the names of those that are not."""
        missing = []
        if self.device == "cpu":
            try:
                use_decode_attention(self._model)
            except Unusable as exc:
                missing.append(str(exc))
        self._fast = self._loop_agrees()
        if not self._fast and self._separate_prefix():  # with transformers' own SDPA, perhaps
            self._model.set_attn_implementation("sdpa")
            self._fast = self._loop_agrees()
            if self._fast:
                missing.append(ATTENTION)
        if not self._fast:
            missing.append(DECODE_LOOP)
        return missing

    def _loop_agrees(self) -> bool:
        """Whether alttext's decode loop, on two short rows that share a prefix (cropped from a
        longer last prefix; the cache grows for the first token drawn), draws from the logits of
        the model's own forward over the whole left-padded rows, step after step. About as much
        work as writing two tokens."""
        import torch

        model = self._model
        vocab = model.get_input_embeddings().num_embeddings
        ids = [(101 + 7919 * k) % vocab for k in range(10)]
        rows = [ids[:7], ids[:4] + ids[7:9]]
        steps: list[Any] = []

        def greedy(logits: Any) -> Any:
            steps.append(logits.float())
            return logits.argmax(-1)

        try:  # anything going wrong in a probe means the public path
            with torch.inference_mode():
                self.prefix_cache(ids[:6])  # the batch's shared prefix crops it
                self._room()
                inputs, length, _ = self._layout(rows, 0, room=0 if self._growable else None)
                drawn = self._loop(inputs, length, greedy, 2)  # the prompt, then one token, for which the cache grows
                pad = self.tokenizer.pad_token_id
                width = max(len(row) for row in rows)
                plain = torch.tensor([[pad] * (width - len(row)) + row for row in rows], device=self.device)
                mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in rows], device=self.device)
                plain = torch.cat([plain, drawn[:, :-1]], dim=1)
                mask = torch.cat([mask, mask.new_ones(len(rows), drawn.shape[1] - 1)], dim=1)
                ours = self._separate_prefix()
                if ours:
                    model.set_attn_implementation("sdpa")
                try:
                    logits = model(input_ids=plain, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0)).logits
                finally:
                    if ours:
                        model.set_attn_implementation(DECODE_ATTENTION)
                dtype = torch.bfloat16 if self._int8 else model.get_input_embeddings().weight.dtype
                agrees = bool(steps) and not any(differs(got, logits[:, width - 1 + s], dtype) for s, got in enumerate(steps))
        except Exception:  # anything going wrong in a probe means the public path
            agrees = False
        finally:
            self._prefix, self._last, self.prefix_tokens_run = None, None, 0
        return agrees

    def prompt_text(self, conversation: Sequence[Mapping[str, str]]) -> str:
        self.load()
        return self.tokenizer.apply_chat_template(
            list(conversation), tokenize=False, add_generation_prompt=True, enable_thinking=False
        )

    def encode(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> Any:
        """Left-padded input ids and attention mask for a batch (no shared-prefix reuse)."""
        self.load()
        texts = [self.prompt_text(c) for c in conversations]
        return self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)

    def shared_prefix(self, rows: Sequence[Sequence[int]]) -> int:
        """How many leading tokens every row has in common, leaving each row one of its own."""
        return max(0, min(_common(rows[0][:-1], r[:-1]) for r in rows))

    def prepare(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> tuple[dict[str, Any], int]:
        """Generation inputs with the shared prefix already run: ``(kwargs, prompt length)``.

        Layout per row: ``[shared prefix][padding][own tokens]``; the mask hides the padding and
        the position ids generate() derives from the mask stay contiguous for the real tokens. A
        row that starts like a kept row (see ``keep``) takes that row's cache for the tokens they
        share: ``[shared prefix][padding][kept tokens][padding][the rest]``, and only the rest runs.
        On CPU the prefix's keys and values are ``inputs["prefix"]`` (one row, per layer) and the
        cache holds the columns after it; elsewhere the cache starts with a copy of it per row.
        """
        inputs, length, _ = self._prepare(conversations)
        return inputs, length

    def _prepare(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> tuple[dict[str, Any], int, _Batch]:
        self.load()
        self._last = None  # the last batch's cache is released first (and its prefix changes below)
        rows = [self.tokenizer(self.prompt_text(c), add_special_tokens=False)["input_ids"] for c in conversations]
        shared = self.shared_prefix(rows)
        if shared < 2:
            inputs = dict(self.encode(conversations))
            inputs["cache"] = self._preallocated(None, len(rows), inputs["input_ids"].shape[1] + self._room())
            return inputs, inputs["input_ids"].shape[1], _Batch(rows, inputs["attention_mask"], inputs["cache"], 0)
        instructions = list(conversations[0][:-1])  # the rules and worked examples, before the picture's own message
        start = min(shared, _common(rows[0], self.tokenizer(self.prompt_text(instructions), add_special_tokens=False)["input_ids"]))
        return self._layout(rows, start)

    def _layout(self, rows: list[list[int]], start: int, room: int | None = None) -> tuple[dict[str, Any], int, _Batch]:
        """``_prepare`` for token rows that share a prefix of two tokens or more (see ``prepare``);
        a kept row's cache is taken from ``start`` on. ``room``: columns for the answer (default
        ``_room()``)."""
        import torch

        shared = self.shared_prefix(rows)
        room = self._room() if room is None else room
        taken = self._take_kept(rows, shared)
        reused = [t.keys[0].shape[1] if t is not None else 0 for t in taken]
        width = max(reused)
        rest = [row[shared + n :] for row, n in zip(rows, reused)]
        tail = max(len(r) for r in rest)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([row[:shared] + [pad] * (width - n) + row[shared : shared + n] + [pad] * (tail - len(r)) + r
                            for row, n, r in zip(rows, reused, rest)], device=self.device)
        mask = torch.tensor([[1] * shared + [0] * (width - n) + [1] * n + [0] * (tail - len(r)) + [1] * len(r)
                             for n, r in zip(reused, rest)], device=self.device)
        prefix = self.prefix_cache(rows[0][:shared])
        kept = taken if width else None
        if not self._separate_prefix():
            cache = self._preallocated(prefix, len(rows), ids.shape[1] + room, kept)
            return {"input_ids": ids, "attention_mask": mask, "cache": cache}, ids.shape[1], _Batch(rows, mask, cache, start)
        cache = self._preallocated(None, len(rows), ids.shape[1] - shared + room, kept)
        layers = [(layer.keys, layer.values) for layer in prefix.layers]
        inputs = {"input_ids": ids, "attention_mask": mask, "cache": cache, "prefix": layers}
        return inputs, ids.shape[1], _Batch(rows, mask, cache, start, shared, layers)

    def _room(self) -> int:
        """Columns to preallocate for each row's answer: ``ANSWER_ROOM`` (the cache grows when an
        answer needs more, see ``_make_room``), or all of ``max_new_tokens`` where the model's
        cache has layers of another kind (a sliding window), which do not grow."""
        from transformers.cache_utils import StaticCache, StaticLayer

        if self._growable is None:
            self._growable = all(type(layer) is StaticLayer for layer in StaticCache(config=self._model.config, max_cache_len=1).layers)
        return min(self.max_new_tokens, ANSWER_ROOM) if self._growable else self.max_new_tokens

    def _separate_prefix(self) -> bool:
        """Whether the shared prefix stays one row of its own, outside the batch's cache: with
        alttext's attention (CPU), which reads it once per step for all rows. Otherwise each row's
        cache starts with a copy of it."""
        return getattr(self._model.config, "_attn_implementation", None) == DECODE_ATTENTION

    def _preallocated(self, prefix: Any | None, rows: int, length: int, kept: Sequence[_Kept | None] | None = None) -> Any:
        """A StaticCache of ``length`` tokens for ``rows`` rows, each starting with the one-row
        ``prefix`` (if any), then (with ``kept``) each row's kept tokens, right-aligned after it.
        Generation writes each new token in place, where a DynamicCache copies the whole cache
        (every row, every layer) per token."""
        from transformers.cache_utils import StaticCache

        static = StaticCache(config=self._model.config, max_cache_len=length)
        for index, layer in enumerate(prefix.layers if prefix is not None else ()):
            static.update(layer.keys.expand(rows, -1, -1, -1), layer.values.expand(rows, -1, -1, -1), index)
        some = next((k for k in kept or () if k is not None), None)
        if kept and some is not None:
            width = max(k.keys[0].shape[1] for k in kept if k is not None)
            end = static.get_seq_length() + width
            for index, layer in enumerate(static.layers):
                heads, _, dim = some.keys[index].shape
                empty = some.keys[index].new_zeros(1, heads, width, dim).expand(rows, -1, -1, -1)
                static.update(empty, empty, index)
                for row, k in enumerate(kept):
                    if k is not None:
                        layer.keys[row, :, end - k.keys[index].shape[1] : end] = k.keys[index]
                        layer.values[row, :, end - k.values[index].shape[1] : end] = k.values[index]
        return static

    def keep(self, rows: Sequence[int]) -> None:
        """Keep the cache of these rows of the last batch written, for a later batch that starts
        like them (a retry: the same prompt up to the rules it broke). The rest of that batch's
        cache is released. At most two batches of rows are kept; the oldest go first."""
        import torch

        last, self._last = self._last, None
        if last is None:
            return
        for k in rows:
            tokens = last.rows[k]
            columns = last.mask[k].nonzero().squeeze(-1)[last.start : len(tokens)]  # where its prompt tokens are, from start
            inner = columns[columns >= last.shared] - last.shared  # in the batch's cache
            outer = columns[columns < last.shared]  # in the separate prefix, if any
            keys, values = [], []
            for index, layer in enumerate(last.cache.layers):
                key, value = layer.keys[k].index_select(1, inner), layer.values[k].index_select(1, inner)
                if last.prefix is not None and len(outer):
                    prefix_keys, prefix_values = last.prefix[index]
                    key = torch.cat([prefix_keys[0].index_select(1, outer), key], dim=1)
                    value = torch.cat([prefix_values[0].index_select(1, outer), value], dim=1)
                keys.append(key)
                values.append(value)
            self._kept.append(_Kept(tokens, last.start, keys, values))
        del self._kept[: -2 * self.batch_size]

    def forget(self) -> None:
        """Release the kept rows and the last batch's cache (a run's writing is done)."""
        self._last = None
        self._kept.clear()

    def _take_kept(self, rows: Sequence[list[int]], shared: int) -> list[_Kept | None]:
        """For each row, the kept row that shares the most of its own tokens, cut to the tokens they
        share, and no longer kept; or None. A row takes a kept row only where it shares more than
        half of that row's own tokens (a retry shares all but the last lines of its first prompt),
        leaving itself one to run, and the longest matches go first: a row that only starts like a
        kept one (another picture, whose caption starts the same way) leaves it to its own retry."""
        matches = []  # (tokens shared, row, kept row)
        for r, row in enumerate(rows):
            for e, entry in enumerate(self._kept):
                common = _common(row[:-1], entry.tokens)
                if entry.start <= shared < common and 2 * (common - entry.start) > len(entry.tokens) - entry.start:
                    matches.append((common, r, e))
        matches.sort(key=lambda match: -match[0])
        taken: list[_Kept | None] = [None] * len(rows)
        used: set[int] = set()
        for common, r, e in matches:
            if taken[r] is None and e not in used:
                used.add(e)
                entry = self._kept[e]
                cut = slice(shared - entry.start, common - entry.start)
                taken[r] = _Kept(rows[r][:common], shared, [k[:, cut] for k in entry.keys], [v[:, cut] for v in entry.values])
        self._kept = [entry for e, entry in enumerate(self._kept) if e not in used]
        return taken

    def prefix_cache(self, tokens: list[int]) -> Any:
        """The KV cache of ``tokens`` for one row, kept as the last prefix. The part it shares with
        the last prefix is that one's cache, cropped in place; only the rest runs through the model.
        Callers read it (``_preallocated`` copies it) and never change it."""
        import torch

        last, self._prefix = self._prefix, None  # no half-changed prefix is kept if the model fails
        known = _common(last[0], tokens[:-1]) if last is not None else 0  # at least one token runs, or the cache is cropped
        cache = None
        if known:
            cache = last[1]  # type: ignore[index]
            cache.crop(known - len(last[0]))  # type: ignore[index]  # a negative count: the tokens to remove
        rest = torch.tensor([tokens[known:]], device=self.device)
        with torch.inference_mode():
            cache = self._model(input_ids=rest, cache=cache, use_cache=True, logits_to_keep=1).cache
        self.prefix_tokens_run += len(tokens) - known
        self._prefix = (list(tokens), cache)
        return cache

    def write(self, conversations: Sequence[Sequence[Mapping[str, str]]], seeds: Sequence[int | None] | None = None) -> list[str]:
        """One answer per conversation, in order, generated ``batch_size`` at a time."""
        import torch

        self.load()
        seeds = list(seeds) if seeds is not None else [None] * len(conversations)
        out: list[str] = []
        for start in range(0, len(conversations), self.batch_size):
            batch = conversations[start : start + self.batch_size]
            seed = _batch_seed(seeds[start : start + self.batch_size])
            if not self._fast:
                out.extend(self._write_public(batch, seed))
                continue
            inputs, prompt_length, last = self._prepare(batch)
            torch.manual_seed(seed)
            with torch.inference_mode():
                answers = self.generate(inputs, prompt_length)
            out.extend(self.tokenizer.batch_decode(answers, skip_special_tokens=True))
            self._last = last
        return out

    def _write_public(self, conversations: Sequence[Sequence[Mapping[str, str]]], seed: int) -> list[str]:
        """The public path: ``generate()`` on the left-padded batch, with a static cache where the
        model takes one, and the same sampling settings and seed (the draws differ from the fast
        path's, the distribution does not). No prefix is reused and nothing is kept."""
        import torch

        inputs = self.encode(conversations)
        length = inputs["input_ids"].shape[1]
        settings: dict[str, Any] = ({"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k}
                                    if self.temperature > 0 else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None})
        settings.update(max_new_tokens=self.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id,
                        disable_compile=True)  # every batch has its own shape: compiling each would cost more than it saves
        torch.manual_seed(seed)
        with torch.inference_mode():
            if self._static_cache:
                try:
                    out = self._model.generate(**inputs, **settings, cache_implementation="static")
                except (ValueError, TypeError, NotImplementedError):  # a model that takes no static cache
                    self._static_cache = False
                    torch.manual_seed(seed)
            if not self._static_cache:
                out = self._model.generate(**inputs, **settings)
        stop = set(self._ends())
        answers = [row[: next((k for k, t in enumerate(row) if t in stop), len(row))] for row in out[:, length:].tolist()]
        return self.tokenizer.batch_decode(answers, skip_special_tokens=True)

    def _ends(self) -> list[int]:
        ends = self._model.generation_config.eos_token_id
        return list(ends) if isinstance(ends, list) else [ends]

    def generate(self, inputs: Mapping[str, Any], prompt_length: int) -> list[list[int]]:
        """The sampled answer tokens of each row (the most likely ones at a temperature of 0), up
        to its end-of-text token.

        What ``generate()`` does with these settings, without its per-token work on the whole
        vocabulary: the nucleus is chosen within the top k tokens, so sorting and drawing look
        at k tokens, not 151,936.
        """
        if self.temperature > 0:
            tokens = self._loop(inputs, prompt_length, lambda logits: sample(logits, self.temperature, self.top_k, self.top_p))
        else:
            tokens = self._loop(inputs, prompt_length, lambda logits: logits.argmax(-1))
        stop = set(self._ends())
        return [row[: next((k for k, t in enumerate(row) if t in stop), len(row))] for row in tokens.tolist()]

    def _loop(self, inputs: Mapping[str, Any], prompt_length: int, draw: Any, steps: int | None = None) -> Any:
        """alttext's decode loop: each step runs every row's newest tokens through the model and
        ``draw``s one token per row from its logits, up to ``steps`` (``max_new_tokens``) or every
        row's end-of-text token. The tokens drawn, (rows, steps), the padding token after a row's
        end."""
        import torch

        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        rows = ids.shape[0]
        cache = inputs["cache"] if "cache" in inputs else self._preallocated(None, rows, prompt_length + self._room())
        prefix = inputs.get("prefix")  # a separate prefix: the cache holds the columns after it
        shared = prefix[0][0].shape[2] if prefix is not None else 0
        extra = {"alttext_prefix": prefix} if prefix is not None else {}
        past = shared + int(cache.get_seq_length())  # the shared prefix (and kept rows' tokens), already run
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        step = ids[:, past:]
        step_positions = positions[:, past:]
        ends = torch.tensor(self._ends(), device=self.device)
        finished = torch.zeros(rows, dtype=torch.bool, device=self.device)
        tokens = []
        for _ in range(self.max_new_tokens if steps is None else steps):
            _make_room(cache, step.shape[1])
            logits = self._model(input_ids=step, attention_mask=mask[:, shared:], position_ids=step_positions, cache=cache,
                                 use_cache=True, logits_to_keep=1, **extra).logits[:, -1]
            token = draw(logits).masked_fill(finished, self.tokenizer.pad_token_id)
            tokens.append(token)
            finished |= torch.isin(token, ends)
            if bool(finished.all()):
                break
            step = token[:, None]
            step_positions = step_positions[:, -1:] + 1
            mask = torch.cat([mask, mask.new_ones((rows, 1))], dim=1)
        return torch.stack(tokens, dim=1)


# Columns preallocated for each row's answer. An alt text of the default length is about 30 to 40
# tokens; ``max_new_tokens`` (``ANSWER_TOKENS``) only bounds a runaway answer. Every decode step
# reads every column of the cache, written or not, so a cache sized for all of it would read about
# a hundred empty columns per row and step, and hold them in memory; an answer that needs more
# grows it.
ANSWER_ROOM = 64


def _make_room(cache: Any, tokens: int) -> None:
    """Grow each layer of a preallocated cache in place, by ``ANSWER_ROOM`` columns, when the next
    ``tokens`` would not fit: new key and value buffers, the old ones copied in (rare: only for an
    answer longer than the room), the same object for everyone who holds it. Only plain static
    layers grow, as ``_room`` counts on; they all hold the same columns, so the first is checked."""
    from transformers.cache_utils import StaticLayer

    layers = [layer for layer in cache.layers if type(layer) is StaticLayer and layer.is_initialized]
    if not layers or int(layers[0].cumulative_length) + tokens <= layers[0].max_cache_len:
        return
    for layer in layers:
        for name in ("keys", "values"):
            old = getattr(layer, name)
            rows, heads, length, dim = old.shape
            grown = old.new_zeros(rows, heads, length + ANSWER_ROOM, dim)
            grown[:, :, :length] = old
            setattr(layer, name, grown)
        layer.max_cache_len += ANSWER_ROOM


DECODE_ATTENTION = "alttext_decode"


def use_decode_attention(model: Any) -> bool:
    """On CPU, attention for one new token per row as two matrix products over the key/value
    heads: eager attention's arithmetic without its copy of every key and value per query head.
    SDPA's CPU kernel, built for many queries at once, still runs the prompt. Only a model on SDPA
    changes, and only one that takes a custom attention. Returns whether the model changed.
    Unusable, and the model unchanged, where transformers' attention interface is not there, or
    alttext's attention gives other outputs than transformers' SDPA function on a probe."""
    try:
        from transformers import AttentionInterface
        from transformers.integrations.sdpa_attention import sdpa_attention_forward
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface, sdpa_mask
    except ImportError:
        raise Unusable(ATTENTION) from None
    if not hasattr(model.config, "_attn_implementation") or not _decode_attention_agrees(sdpa_attention_forward):
        raise Unusable(ATTENTION)
    if model.config._attn_implementation != "sdpa":
        return False
    try:
        AttentionInterface.register(DECODE_ATTENTION, decode_attention)
        if DECODE_ATTENTION not in ALL_MASK_ATTENTION_FUNCTIONS:
            AttentionMaskInterface.register(DECODE_ATTENTION, sdpa_mask)
    except (AttributeError, TypeError, ValueError):
        raise Unusable(ATTENTION) from None
    try:
        model.set_attn_implementation(DECODE_ATTENTION)
    except (ValueError, NotImplementedError, AttributeError):  # a model that takes no custom attention
        model.set_attn_implementation("sdpa")
        return False
    return model.config._attn_implementation == DECODE_ATTENTION


def _decode_attention_agrees(sdpa_attention_forward: Any) -> bool:
    """Whether ``decode_attention`` gives what transformers' SDPA attention gives, on fixed
    numbers: one new token per row (left padding and unwritten room masked), a prompt, and both
    after a prefix kept once for all rows."""
    import torch

    class Attention(torch.nn.Module):
        num_key_value_groups, is_causal, layer_idx = 2, True, 0

    try:
        with torch.inference_mode():
            key, value = probe_values((2, 2, 6, 8), torch.float32), probe_values((2, 2, 6, 8), torch.float32).flip(-1)
            shared_keys, shared_values = probe_values((1, 2, 3, 8), torch.float32).flip(-2), probe_values((1, 2, 3, 8), torch.float32)
            for tokens in (1, 3):
                query = probe_values((2, 4, tokens, 8), torch.float32).flip(0) * 2
                mask = torch.ones(2, 1, tokens, 6, dtype=torch.bool).tril(6 - tokens - 1)
                mask[0, ..., :2] = False  # left padding
                want, _ = sdpa_attention_forward(Attention(), query, key, value, mask, scaling=0.3)
                got, _ = decode_attention(Attention(), query, key, value, mask, scaling=0.3)
                whole = torch.cat([torch.ones(2, 1, tokens, 3, dtype=torch.bool), mask], dim=-1)
                want_prefix, _ = sdpa_attention_forward(Attention(), query, torch.cat([shared_keys.expand(2, -1, -1, -1), key], 2),
                                                        torch.cat([shared_values.expand(2, -1, -1, -1), value], 2), whole, scaling=0.3)
                got_prefix, _ = decode_attention(Attention(), query, key, value, mask, scaling=0.3, alttext_prefix=[(shared_keys, shared_values)])
                if differs(got, want, torch.float32) or differs(got_prefix, want_prefix, torch.float32):
                    return False
    except Exception:  # anything going wrong in a probe means the public path
        return False
    return True


def decode_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float | None = None,
                     dropout: float = 0.0, alttext_prefix: Sequence[tuple[Any, Any]] | None = None, **kwargs: Any) -> tuple[Any, None]:
    """``query``: (rows, heads, 1, dim); ``key``/``value``: (rows, kv heads, length, dim); the mask
    (rows, 1, 1, length), True where a row may look. Returns (rows, 1, heads, dim). With
    ``alttext_prefix`` (per layer, the keys and values of a prefix every row starts with, one row),
    see ``prefix_attention``. Anything else (the prompt, no mask) goes to SDPA."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    rows, heads, length, dim = query.shape
    if alttext_prefix is not None:
        shared_keys, shared_values = alttext_prefix[module.layer_idx]
        if length == 1 and not dropout:
            return prefix_attention(query, key, value, attention_mask, scaling, shared_keys, shared_values), None
        # The prompt: SDPA's kernel over the prefix (copied per row, for this layer only) and the
        # columns the rows' cache holds so far, each key/value head read by its query heads.
        if attention_mask is not None:
            filled = int(attention_mask.reshape(-1, attention_mask.shape[-1]).any(0).nonzero().max()) + 1
            key, value, attention_mask = key[:, :, :filled], value[:, :, :filled], attention_mask[..., :filled]
        key = torch.cat([shared_keys.expand(rows, -1, -1, -1), key], dim=2)
        value = torch.cat([shared_values.expand(rows, -1, -1, -1), value], dim=2)
        if attention_mask is not None:
            visible = attention_mask.new_ones(*attention_mask.shape[:-1], shared_keys.shape[2])
            attention_mask = torch.cat([visible.expand(attention_mask.shape[0], -1, -1, -1), attention_mask], dim=-1)
        else:  # causal, the prefix visible to all
            attention_mask = torch.ones(1, 1, length, key.shape[2], dtype=torch.bool, device=query.device).tril(key.shape[2] - length)
        out = torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, dropout_p=dropout,
                                                                scale=scaling, enable_gqa=True)
        return out.transpose(1, 2), None
    if length != 1 or attention_mask is None or attention_mask.dtype != torch.bool or dropout or kwargs.get("output_attentions"):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    kv_heads = key.shape[1]
    grouped = query.reshape(rows, kv_heads, heads // kv_heads, dim)  # query head h reads key/value head h // group
    scores = torch.matmul(grouped, key.transpose(-1, -2)) * (scaling if scaling is not None else dim**-0.5)
    scores = scores.float().masked_fill(~attention_mask.reshape(rows, 1, 1, -1), float("-inf"))
    out = torch.matmul(torch.softmax(scores, dim=-1).to(value.dtype), value)
    return out.reshape(rows, 1, heads, dim), None


def prefix_attention(query: Any, key: Any, value: Any, attention_mask: Any, scaling: float | None, shared_keys: Any,
                     shared_values: Any) -> Any:
    """Attention over a prefix every row shares, kept once, then each row's own columns.

    ``query``: (rows, heads, tokens, dim); ``key``/``value``: each row's own columns (rows, kv
    heads, length, dim), the mask (rows, 1, tokens, length) True where a row may look, or None (all,
    causal for the last ``tokens``); ``shared_keys``/``shared_values``: (1, kv heads, prefix, dim),
    which every query sees. One softmax over both, in float: SDPA's arithmetic over the prefix
    followed by the row's columns, but the prefix is read once for all rows, and no row's cache
    holds a copy of it. Returns (rows, tokens, heads, dim).
    """
    import torch

    rows, heads, tokens, dim = query.shape
    kv_heads, length, width = key.shape[1], key.shape[2], shared_keys.shape[2]
    group = heads // kv_heads  # query head h reads key/value head h // group
    grouped = query.reshape(rows, kv_heads, group * tokens, dim)
    # All rows' queries as one matrix per key/value head against the prefix's keys.
    across = grouped.transpose(0, 1).reshape(kv_heads, rows * group * tokens, dim)
    scores = torch.cat([torch.matmul(across, shared_keys[0].transpose(-1, -2)).reshape(kv_heads, rows, group * tokens, width).transpose(0, 1),
                        torch.matmul(grouped, key.transpose(-1, -2))], dim=-1).float()
    scores = scores * (scaling if scaling is not None else dim**-0.5)
    if attention_mask is None and tokens > 1:
        attention_mask = torch.ones(tokens, length, dtype=torch.bool, device=query.device).tril(length - tokens)
    if attention_mask is not None:
        own = scores.view(rows, kv_heads, group, tokens, width + length)[..., width:]
        own.masked_fill_(~attention_mask.reshape(-1, 1, 1, tokens, length), float("-inf"))
    probs = torch.softmax(scores, dim=-1).to(value.dtype)
    first = probs[..., :width].transpose(0, 1).reshape(kv_heads, rows * group * tokens, width)
    out = torch.matmul(first, shared_values[0]).reshape(kv_heads, rows, group * tokens, dim).transpose(0, 1).float()
    out = (out + torch.matmul(probs[..., width:], value).float()).to(value.dtype)
    return out.reshape(rows, kv_heads, group, tokens, dim).reshape(rows, heads, tokens, dim).transpose(1, 2)


def nucleus(logits: Any, temperature: float, top_k: int, top_p: float) -> tuple[Any, Any]:
    """Per row, the tokens ``generate()`` may draw with temperature, top-k and top-p, and their
    probabilities (zero outside the nucleus): the most likely ``top_k`` tokens, of which the first
    ones whose probabilities sum to ``top_p`` (always the most likely one)."""
    import torch

    k = min(top_k, logits.shape[-1]) if top_k > 0 else logits.shape[-1]  # 0: no top-k, as in generate()
    values, index = torch.topk(logits.float(), k, dim=-1)
    probs = torch.softmax(values / temperature, dim=-1)
    above = probs.cumsum(-1) - probs  # the probability of the tokens ranked above each one
    return probs.masked_fill(above >= top_p, 0.0), index


def sample(logits: Any, temperature: float, top_k: int, top_p: float) -> Any:
    """One token per row, drawn from its nucleus in proportion to the probabilities."""
    import torch

    probs, index = nucleus(logits, temperature, top_k, top_p)
    return index.gather(-1, torch.multinomial(probs, 1)).squeeze(-1)


def quantize_int8(model: Any) -> Any:
    """``model`` with its linear layers' weights in int8, and their inputs quantized to int8 per
    token as they come (torchao's dynamic int8 quantization; CPU). Unusable, and the model as it
    was, where torchao's API is not there, or its product is not close to the float one on a
    probe."""
    import torch

    with quiet_loading():
        try:
            from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
        except Exception:  # an install that does not import (another torch) fails in its own ways
            raise Unusable(INT8) from None
        try:
            layer = torch.nn.utils.skip_init(torch.nn.Linear, 64, 32)  # no random initialisation: the generator's state stays
            with torch.no_grad():
                layer.weight.copy_(probe_values((32, 64), torch.float32))
                layer.bias.copy_(probe_values((32,), torch.float32))
            x = probe_values((3, 64), torch.float32).flip(-1)
            with torch.inference_mode():
                want = layer(x)
            probe = torch.nn.Sequential(layer)
            quantize_(probe, Int8DynamicActivationInt8WeightConfig())
            with torch.inference_mode():
                wrong = differs(probe(x), want, torch.bfloat16)  # int8 rounds more than bf16 does per value, less over a product
        except Exception:  # anything going wrong in a probe means the unquantized model
            wrong = True
        if wrong:
            raise Unusable(INT8)
        quantize_(model, Int8DynamicActivationInt8WeightConfig())
    return model
