from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from collections.abc import Callable
from typing import Any

import pytest

from alttext.model import Settings
from alttext.pipeline.fast_path import packing
from alttext.pipeline.models import Unusable
from alttext.scan import scan_text


def found(text: str, kind: str, engine: str | None = None, **settings: object) -> list[tuple[int, int, str]]:
    """(line, column, rule) of every finding; also checks each exact span reads back its syntax."""
    results = scan_text("doc", text, dataclasses.replace(Settings(), **settings), kind=kind, engine=engine)
    for f in results:
        if f.exact:
            snippet = text[f.start : f.end]
            assert snippet.startswith(("![", "<", "{{<")), snippet
            assert snippet.endswith((")", "]", ">", ">}}")), snippet
    return [(f.line, f.column, f.rule) for f in results]


def without_blocking(fifo: str, work: Callable[[], Any], seconds: float = 10.0) -> Any:
    """``work()``, or a test failure (not a hang) if it waits for a writer on ``fifo``."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the test below
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    blocked = thread.is_alive()
    for _ in range(100):
        if not thread.is_alive():
            break
        # Open and close the writing end: the blocked reader gets end-of-file and the thread ends.
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(0.1)
    if blocked:
        pytest.fail(f"blocked waiting for a writer on {fifo}")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def packable(dtype: str = "float32") -> bool:
    """Whether this torch packs linear layers of ``dtype`` here."""
    import torch

    try:
        return getattr(torch, dtype) in packing.packable_dtypes()
    except Unusable:
        return False
