"""BLIP's attention, faster: the vision encoder's attention through PyTorch's fused attention
(SDPA), and the text decoder's cross-attention reading each image's keys and values once for all
the captions of that image. Both replace the forward of transformers' own layers, checked first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alttext.pipeline.fast_path.probe import differs, probe_values
from alttext.pipeline.models import Unusable

# The internals these need, as the fast path's warning names them.
VISION_ATTENTION = "transformers' BlipAttention (qkv, projection, num_heads, head_dim, scale)"
GROUPED_CROSS_ATTENTION = "transformers' BlipTextSelfAttention and EncoderDecoderCache (grouped cross-attention)"


def _restore(layers: Sequence[Any]) -> None:
    """Give these layers their class's own forward back."""
    for layer in layers:
        vars(layer).pop("forward", None)


def use_fused_vision_attention(model: Any) -> int:
    """Give the vision encoder's attention layers PyTorch's fused attention (SDPA) in place of
    BLIP's own, which writes out every 577 x 577 score matrix, then scales and softmaxes it in
    separate passes. The same arithmetic in the same precision (no dropout: the model is in eval
    mode). Returns how many layers changed (0: no BLIP vision attention in ``model``). Unusable,
    and no layer changed, where BLIP's layers are not laid out as this expects or give other
    outputs than BLIP's own on a probe."""
    import types

    import torch

    try:
        from transformers.models.blip.modeling_blip import BlipAttention
    except ImportError:
        raise Unusable(VISION_ATTENTION) from None
    layers = [module for module in model.modules() if type(module) is BlipAttention]
    if not layers:
        return 0
    if not all(hasattr(layer, a) for layer in layers for a in ("qkv", "projection", "num_heads", "head_dim", "scale")):
        raise Unusable(VISION_ATTENTION)
    for layer in layers:
        layer.forward = types.MethodType(_fused_attention_forward, layer)
    first, dtype = layers[0], layers[0].qkv.weight.dtype
    try:
        with torch.inference_mode():
            hidden = probe_values((2, 5, first.qkv.in_features), dtype)
            fused, own = first(hidden)[0], BlipAttention.forward(first, hidden)[0]
        wrong = differs(fused, own, dtype)
    except Exception:  # anything going wrong in a probe means the public path
        wrong = True
    if wrong:
        _restore(layers)
        raise Unusable(VISION_ATTENTION)
    return len(layers)


def _fused_attention_forward(self: Any, hidden_states: Any, **kwargs: Any) -> tuple[Any, None]:
    """BlipAttention.forward through ``scaled_dot_product_attention``; no attention weights."""
    import torch

    rows, length, width = hidden_states.shape
    qkv = self.qkv(hidden_states).reshape(rows, length, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
    out = torch.nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], scale=self.scale)
    return self.projection(out.transpose(1, 2).reshape(rows, length, width)), None


def cross_attention_layers(model: Any) -> list[Any]:
    """The text decoder's cross-attention layers that can take several rows per image."""
    try:
        from transformers.models.blip.modeling_blip_text import BlipTextSelfAttention
    except ImportError:
        raise Unusable(GROUPED_CROSS_ATTENTION) from None
    return [module for name, module in model.named_modules() if name.endswith("crossattention.self") and type(module) is BlipTextSelfAttention]


def use_grouped_cross_attention(model: Any) -> int:
    """Let the text decoder's cross-attention take several rows per image: the captions of one
    image (plain, and continuing a prompt) then read its cached keys and values once per step for
    all of them, instead of once per caption. Any other call keeps BLIP's own code. Returns how
    many layers changed (0: no BLIP text decoder in ``model``). Unusable, and no layer changed,
    where BLIP's layers are not laid out as this expects. The captioner's decode probe checks
    the arithmetic."""
    import types

    layers = cross_attention_layers(model)
    if not all(hasattr(layer, a) for layer in layers for a in ("query", "attention_head_size", "layer_idx")):
        raise Unusable(GROUPED_CROSS_ATTENTION)
    for layer in layers:
        layer.forward = types.MethodType(_grouped_cross_attention_forward, layer)
    return len(layers)


def grouped_keys_values(self: Any, cache: Any, rows: int, encoder_hidden_states: Any, encoder_attention_mask: Any) -> tuple[Any, Any] | None:
    """This layer's cached cross-attention keys and values, one row per image, where ``rows``
    queries (a whole number of rows per image, more than one) can read them grouped; else None."""
    from transformers.cache_utils import EncoderDecoderCache

    if not (isinstance(cache, EncoderDecoderCache) and encoder_hidden_states is not None and encoder_attention_mask is None
            and cache.is_updated.get(self.layer_idx)):
        return None
    layer = cache.cross_attention_cache.layers[self.layer_idx]
    keys, values = layer.keys, layer.values
    if keys is None or keys.shape[0] >= rows or rows % keys.shape[0]:
        return None
    return keys, values


def _grouped_cross_attention_forward(self: Any, hidden_states: Any, attention_mask: Any = None, encoder_hidden_states: Any = None,
                                     encoder_attention_mask: Any = None, cache: Any = None, **kwargs: Any) -> tuple[Any, Any]:
    """BlipTextSelfAttention.forward where the cached keys and values hold one row per image and
    the queries ``g`` rows per image, row ``j * images + k`` for image ``k``: BLIP's arithmetic
    (scores over the square root of the head size, softmax, no dropout in eval mode), with each
    image's keys and values read once for its ``g`` rows. No attention weights."""
    import math

    import torch

    rows, length = hidden_states.shape[:2]
    cached = grouped_keys_values(self, cache, rows, encoder_hidden_states, encoder_attention_mask)
    if cached is None:
        return type(self).forward(self, hidden_states, attention_mask=attention_mask, encoder_hidden_states=encoder_hidden_states,
                                  encoder_attention_mask=encoder_attention_mask, cache=cache, **kwargs)
    keys, values = cached
    images, heads, _, size = keys.shape
    group = rows // images
    query = self.query(hidden_states).view(group, images, length, heads, size).permute(1, 3, 0, 2, 4).reshape(images, heads, group * length, size)
    scores = torch.matmul(query, keys.transpose(-1, -2)) / math.sqrt(size)
    context = torch.matmul(torch.softmax(scores, dim=-1), values)
    return context.view(images, heads, group, length, size).permute(2, 0, 3, 1, 4).reshape(rows, length, heads * size), None


def ungroup_cross_attention(model: Any) -> None:
    """Give the text decoder's cross-attention layers BLIP's own forward back."""
    _restore(cross_attention_layers(model))
