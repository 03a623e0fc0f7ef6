"""The numbers a load-time probe runs on, and how close the fast path must come to the public
computation on them."""

from __future__ import annotations

from typing import Any


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
