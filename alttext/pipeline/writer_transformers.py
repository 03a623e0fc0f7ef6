"""The in-process writer: a causal LM (default Qwen/Qwen3-0.6B) through transformers.

Loaded once, on first use. Prompts go through the model's own chat template with thinking off.
Every prompt starts with the same system message, so the tokens a batch shares are run through
the model once, and their key/value cache is kept: the next batch, and the retry, run only the
shared tokens that differ. Each row then generates from a preallocated (static) cache holding
that prefix, padding, and its own tokens, so every row generates from its own last token and no
token copies the whole cache. On CPU, ``quantize="int8"`` replaces the linear layers with
dynamically quantized int8 ones (an option: on this project's bf16 CPU it was no faster than bf16,
and its effect on the wording could not be measured). Sampling uses the settings
Qwen3 recommends for non-thinking use (temperature 0.6, top_p 0.95, top_k 20). ``generate()`` draws
from one generator per batch, so a batch is seeded from its images' seeds together: the same images
in the same batches give the same text on a rerun.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from alttext.pipeline.caption import cpu_has_bf16, model_load_error, no_loading_bars, pick_device, use_cpu_threads

DEFAULT_WRITER = "Qwen/Qwen3-0.6B"


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
        max_new_tokens: int = 256,
        quantize: str = "none",
    ) -> None:
        self.model_id = model
        self.device_setting = device
        self.batch_size = max(1, batch_size)
        self.temperature, self.top_p, self.top_k = temperature, top_p, top_k
        self.max_new_tokens = max_new_tokens
        self.quantize = quantize
        self.device = "cpu"
        self._model: Any = None
        self.tokenizer: Any = None
        # The last shared prefix run (its tokens and KV cache, one row). Every prompt starts with
        # the same instructions, so the next batch, and the retry, start from it.
        self._prefix: tuple[list[int], Any] | None = None
        self.prefix_tokens_run = 0  # prefix tokens the model actually ran (the rest were reused)

    def load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        no_loading_bars()
        self.device = pick_device(self.device_setting)
        # bf16 is Qwen3's own precision: on a GPU, and on a CPU with native bf16 arithmetic, it
        # halves the memory and is faster. int8 quantization starts from fp32.
        native = self.device == "cuda" or (self.device == "cpu" and cpu_has_bf16())
        dtype = torch.bfloat16 if native and self.quantize != "int8" else torch.float32
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.model_id)
            model = AutoModelForCausalLM.from_pretrained(self.model_id, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise model_load_error("writer", self.model_id, "writer_model", exc) from None
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.tokenizer = tokenizer
        model = model.to(self.device).eval()
        if self.device == "cpu":
            use_cpu_threads()
            if self.quantize == "int8":
                model = quantize_int8(model)
        self._model = model

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
        n = min(len(r) for r in rows) - 1
        for k in range(n):
            token = rows[0][k]
            if any(r[k] != token for r in rows):
                return k
        return max(0, n)

    def prepare(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> tuple[dict[str, Any], int]:
        """Generation inputs with the shared prefix already run: ``(kwargs, prompt length)``.

        Layout per row: ``[shared prefix][padding][own tokens]``; the mask hides the padding and
        the position ids generate() derives from the mask stay contiguous for the real tokens.
        """
        import torch

        self.load()
        rows = [self.tokenizer(self.prompt_text(c), add_special_tokens=False)["input_ids"] for c in conversations]
        shared = self.shared_prefix(rows)
        if shared < 2:
            inputs = self.encode(conversations)
            return dict(inputs), inputs["input_ids"].shape[1]
        own = [r[shared:] for r in rows]
        width = max(len(r) for r in own)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([rows[0][:shared] + [pad] * (width - len(r)) + r for r in own], device=self.device)
        mask = torch.tensor([[1] * shared + [0] * (width - len(r)) + [1] * len(r) for r in own], device=self.device)
        prefix = self.prefix_cache(rows[0][:shared])
        return {"input_ids": ids, "attention_mask": mask, "cache": self._preallocated(prefix, len(rows), ids.shape[1] + self.max_new_tokens)}, ids.shape[1]

    def _preallocated(self, prefix: Any, rows: int, length: int) -> Any:
        """A StaticCache of ``length`` tokens for ``rows`` rows, each starting with the one-row
        ``prefix``. Generation writes each new token in place, where a DynamicCache copies the
        whole cache (every row, every layer) per token."""
        from transformers.cache_utils import StaticCache

        static = StaticCache(config=self._model.config, max_cache_len=length)
        for index, layer in enumerate(prefix.layers):
            static.update(layer.keys.expand(rows, -1, -1, -1), layer.values.expand(rows, -1, -1, -1), index)
        return static

    def prefix_cache(self, tokens: list[int]) -> Any:
        """A fresh KV cache of ``tokens`` for one row. The part it shares with the last prefix is
        copied from that one's cache; only the rest runs through the model."""
        import copy

        import torch

        known = 0
        if self._prefix is not None:
            last = self._prefix[0]
            limit = min(len(last), len(tokens) - 1)  # at least one token runs, or the cache is cropped
            while known < limit and last[known] == tokens[known]:
                known += 1
        if known:
            cache = copy.deepcopy(self._prefix[1])  # type: ignore[index]
            cache.crop(known - len(self._prefix[0]))  # a negative count: the tokens to remove
        else:
            cache = None
        rest = torch.tensor([tokens[known:]], device=self.device)
        with torch.inference_mode():
            cache = self._model(input_ids=rest, cache=cache, use_cache=True, logits_to_keep=1).cache
        self.prefix_tokens_run += len(tokens) - known
        self._prefix = (list(tokens), copy.deepcopy(cache))
        return cache

    def write(self, conversations: Sequence[Sequence[Mapping[str, str]]], seeds: Sequence[int | None] | None = None) -> list[str]:
        """One answer per conversation, in order, generated ``batch_size`` at a time."""
        import torch

        self.load()
        seeds = list(seeds) if seeds is not None else [None] * len(conversations)
        out: list[str] = []
        for start in range(0, len(conversations), self.batch_size):
            batch = conversations[start : start + self.batch_size]
            inputs, prompt_length = self.prepare(batch)
            torch.manual_seed(_batch_seed(seeds[start : start + self.batch_size]))
            with torch.inference_mode():
                ids = self._model.generate(
                    **inputs,
                    do_sample=True,
                    temperature=self.temperature,
                    top_p=self.top_p,
                    top_k=self.top_k,
                    max_new_tokens=self.max_new_tokens,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            new = ids[:, prompt_length:]
            out.extend(self.tokenizer.batch_decode(new, skip_special_tokens=True))
        return out


def quantize_int8(model: Any) -> Any:
    """``model`` with its linear layers dynamically quantized to int8 (CPU only)."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch marks eager quantization deprecated (torchao replaces it)
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
