"""The in-process writer: a causal LM (default Qwen/Qwen3-0.6B) through transformers.

Loaded once, on first use. Prompts go through the model's own chat template with thinking off;
batches are left-padded so every row generates from its own last token. Sampling uses the settings
Qwen3 recommends for non-thinking use (temperature 0.6, top_p 0.95, top_k 20). ``generate()`` draws
from one generator per batch, so a batch is seeded from its images' seeds together: the same images
in the same batches give the same text on a rerun.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from alttext.pipeline.caption import model_load_error, pick_device

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
    ) -> None:
        self.model_id = model
        self.device_setting = device
        self.batch_size = max(1, batch_size)
        self.temperature, self.top_p, self.top_k = temperature, top_p, top_k
        self.max_new_tokens = max_new_tokens
        self.device = "cpu"
        self._model: Any = None
        self.tokenizer: Any = None

    def load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = pick_device(self.device_setting)
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.model_id)
            model = AutoModelForCausalLM.from_pretrained(self.model_id, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise model_load_error("writer", self.model_id, "writer_model", exc) from None
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.tokenizer = tokenizer
        self._model = model.to(self.device).eval()

    def prompt_text(self, conversation: Sequence[Mapping[str, str]]) -> str:
        self.load()
        return self.tokenizer.apply_chat_template(
            list(conversation), tokenize=False, add_generation_prompt=True, enable_thinking=False
        )

    def encode(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> Any:
        self.load()
        texts = [self.prompt_text(c) for c in conversations]
        return self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)

    def write(self, conversations: Sequence[Sequence[Mapping[str, str]]], seeds: Sequence[int | None] | None = None) -> list[str]:
        """One answer per conversation, in order, generated ``batch_size`` at a time."""
        import torch

        self.load()
        seeds = list(seeds) if seeds is not None else [None] * len(conversations)
        out: list[str] = []
        for start in range(0, len(conversations), self.batch_size):
            batch = conversations[start : start + self.batch_size]
            inputs = self.encode(batch)
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
            new = ids[:, inputs["input_ids"].shape[1] :]
            out.extend(self.tokenizer.batch_decode(new, skip_special_tokens=True))
        return out
