"""Where the models come from: a local folder or file, the Hugging Face cache, or a download.

Before a model loads, ``locate`` checks, fast, that it is on this machine. When it is not and the
hub cannot be reached (or ``HF_HUB_OFFLINE`` is set), the run stops within seconds with one line
that says how to get it, instead of minutes of the hub client's retries. ``alttext models`` lists
the configured models and where they are; ``alttext models pull`` downloads them.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from alttext import messages

HUB_PROBE_TIMEOUT_S = 2.0


class ModelLoadError(Exception):
    """A model that cannot be loaded; ``str()`` says how to get it."""


def model_load_error(role: str, model: str, key: str, exc: Exception) -> ModelLoadError:
    """The error for ``from_pretrained`` failing with ``exc``, in one line: which model, why
    (transformers' first sentence), and how to get it."""
    reason = str(exc).strip().splitlines()[0].split(". ")[0] if str(exc).strip() else type(exc).__name__
    return ModelLoadError(messages.MODEL_LOAD.format(role=role, model=model, reason=reason.rstrip("."), key=key))


class Unusable(Exception):
    """A library internal that a fast path needs is missing here, or gave other results than the
    public path on a probe at load; ``str()`` names it."""


_WARNED: set[str] = set()  # the fast-path warnings this process has printed


def warn_public_path(role: str, internals: Sequence[str]) -> None:
    """Say on stderr, in one line and once per process, that ``internals`` cannot be used here, so
    the ``role`` runs on the public path instead (slower, same results)."""
    if not internals:
        return
    import torch
    import transformers

    line = messages.FAST_PATH_OFF.format(internals="; ".join(internals), role=role, torch=torch.__version__,
                                         transformers=transformers.__version__)
    if line not in _WARNED:
        _WARNED.add(line)
        print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Found:
    model: str
    role: str  # captioner, writer
    key: str  # the setting that names it
    where: str  # a folder or file, or '' when it is not on this machine
    size: int  # bytes on disk (0 when absent)
    hub: bool  # a hub id (not a path)


def is_path(model: str) -> bool:
    return os.path.isabs(model) or model.startswith((".", "~")) or os.path.exists(model) or model.lower().endswith(".gguf")


def find(model: str, role: str, key: str) -> Found:
    """Where ``model`` is on this machine, without touching the network."""
    if is_path(model):
        path = os.path.expanduser(model)
        return Found(model, role, key, path if os.path.exists(path) else "", _size(path), False)
    from huggingface_hub import try_to_load_from_cache

    try:
        config = try_to_load_from_cache(model, "config.json")
    except Exception:  # an id the hub would refuse (bad characters): not on this machine
        config = None
    if not isinstance(config, str):
        return Found(model, role, key, "", 0, True)
    snapshot = os.path.dirname(config)
    return Found(model, role, key, snapshot, _size(os.path.dirname(os.path.dirname(snapshot))), True)


def _size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(folder, name)).st_size  # follows the cache's links to its blobs
            except OSError:
                continue
    return total


def hub_reachable() -> bool:
    """Whether the hub answers a TCP connection within a few seconds."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    endpoint = urllib.parse.urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        with socket.create_connection((endpoint.hostname or "huggingface.co", endpoint.port or 443), timeout=HUB_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def locate(model: str, role: str, key: str) -> bool:
    """Check that ``model`` can be loaded; True when it is on this machine, False when it will be
    downloaded now. ``ModelLoadError`` (one line, how to get it) when it can be neither."""
    found = find(model, role, key)
    if found.where:
        return True
    if not found.hub:
        raise ModelLoadError(messages.MODEL_MISSING_PATH.format(role=role, model=model, key=key))
    if not hub_reachable():
        raise ModelLoadError(messages.MODEL_NOT_DOWNLOADED.format(role=role, model=model, key=key))
    return False


def pull(model: str) -> str:
    """Download ``model`` into the Hugging Face cache (with the hub client's progress bars)."""
    from huggingface_hub import snapshot_download

    return snapshot_download(model)
