"""Stage 2: BLIP captions, batched and greedy. Torch and transformers load here, and only here.

Uses BlipForConditionalGeneration and BlipProcessor directly (the image-to-text pipeline is gone
in transformers 5). The model loads once, on first use, and stays on the instance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alttext import messages

DEFAULT_CAPTIONER = "Salesforce/blip-image-captioning-base"


class ModelLoadError(Exception):
    """A model that cannot be loaded; ``str()`` says how to get it."""


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


def use_cpu_threads() -> None:
    """One torch thread per usable CPU, unless the user chose (OMP_NUM_THREADS) — torch's own
    default counts the host's cores, which oversubscribes a container's quota."""
    import os

    import torch

    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(cpu_count())


class Captioner:
    def __init__(self, model: str = DEFAULT_CAPTIONER, device: str = "auto", batch_size: int = 8, max_new_tokens: int = 30) -> None:
        self.model_id = model
        self.device_setting = device
        self.batch_size = max(1, batch_size)
        self.max_new_tokens = max_new_tokens
        self._model: Any = None
        self._processor: Any = None
        self.device = "cpu"

    def load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import BlipForConditionalGeneration, BlipProcessor

        self.device = pick_device(self.device_setting)
        dtype = torch.float16 if self.device == "cuda" else torch.float32
        try:
            self._processor = BlipProcessor.from_pretrained(self.model_id)
            model = BlipForConditionalGeneration.from_pretrained(self.model_id, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise model_load_error("captioner", self.model_id, "captioner", exc) from None
        self._model = model.to(self.device).eval()
        if self.device == "cpu":
            use_cpu_threads()

    def caption(self, images: Sequence[Any], prompt: str | None = None) -> list[str]:
        """One caption per image, in order. With ``prompt``, BLIP continues that text (a
        conditional caption) and the prompt is removed from the result."""
        import torch

        self.load()
        out: list[str] = []
        for start in range(0, len(images), self.batch_size):
            batch = list(images[start : start + self.batch_size])
            kwargs: dict[str, Any] = {"images": batch, "return_tensors": "pt"}
            if prompt:
                kwargs["text"] = [prompt] * len(batch)
            inputs = self._processor(**kwargs).to(self.device)
            if self.device == "cuda":
                inputs["pixel_values"] = inputs["pixel_values"].half()
            with torch.inference_mode():
                ids = self._model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False, num_beams=1)
            for text in self._processor.batch_decode(ids, skip_special_tokens=True):
                text = " ".join(text.split())
                if prompt and text.lower().startswith(prompt.lower()):
                    text = text[len(prompt) :].strip()
                out.append(text)
        return out

