"""The int8 writer: its linear layers quantized with torchao's dynamic int8 quantization (CPU),
checked on a probe first. Whether ``quantize = "auto"`` means int8 here is the writer's
``quantization``."""

from __future__ import annotations

from typing import Any

from alttext.pipeline.fast_path.probe import differs, probe_values
from alttext.pipeline.models import Unusable
from alttext.pipeline.runtime import quiet_loading

# The API this needs, as the warning names it.
INT8 = "torchao's quantize_ with Int8DynamicActivationInt8WeightConfig (the int8 writer)"


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
