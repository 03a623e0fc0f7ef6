"""The torch runtime the captioner and the writer share: which device, how many CPU threads,
whether the CPU does bf16 natively, which dtypes, and loading without lines a user can do
nothing about. Torch and transformers are imported inside the functions that need them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from alttext.pipeline.fast_path.pages import drop_pages, file_mappings


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
    read from the memory-mapped checkpoint, their pages are dropped (see ``drop_pages``), as
    packing does. ``release=False``: the replaced weights' pages stay until the checkpoint's
    mapping goes (the public path). Returns the module."""
    files = file_mappings() if release else []
    replaced = [(t.data_ptr(), t.nbytes) for t in [*module.parameters(), *module.buffers()] if t.is_floating_point() and t.dtype != dtype]
    module.to(dtype)
    for address, size in replaced:
        drop_pages(address, size, files)
    return module
