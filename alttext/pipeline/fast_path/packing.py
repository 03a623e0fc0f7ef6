"""Packed linear layers on CPU: each weight reordered once into oneDNN's blocked layout, read by
oneDNN's kernel. The captioner and the writer both pack theirs."""

from __future__ import annotations

from typing import Any

from alttext.pipeline.fast_path.pages import drop_pages, file_mappings
from alttext.pipeline.fast_path.probe import differs, probe_values
from alttext.pipeline.models import Unusable

# The internals this needs, as the fast path's warning names them.
PACKING = "torch.ops.mkldnn._reorder_linear_weight and _linear_pointwise (packed linear layers)"


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
    files = file_mappings() if release else []
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
            drop_pages(weight.data_ptr(), weight.nbytes, files)
        changed += 1
    return changed


def _tied_parameters(model: Any) -> set[int]:
    """Where the parameters start that more than one module holds, or that share their memory."""
    from collections import Counter

    held = Counter(p.data_ptr() for module in model.modules() for p in module.parameters(recurse=False))
    return {address for address, count in held.items() if count > 1}


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
