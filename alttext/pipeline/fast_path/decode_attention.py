"""The writer's attention on CPU, faster: for the one new token per row of a decode step, two
matrix products over the key/value heads, and a prefix every row shares read once for all rows
instead of copied into each row's cache. Registered with transformers' attention interface, and
checked against transformers' SDPA attention first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alttext.pipeline.fast_path.probe import differs, probe_values
from alttext.pipeline.models import Unusable

# The internals this needs, as the fast path's warning names them.
ATTENTION = "transformers' AttentionInterface, sdpa_mask, sdpa_attention_forward and config._attn_implementation (alttext's decode attention)"
DECODE_ATTENTION = "alttext_decode"  # the name it is registered under with transformers


def use_decode_attention(model: Any) -> bool:
    """On CPU, attention for one new token per row as two matrix products over the key/value
    heads: eager attention's arithmetic without its copy of every key and value per query head.
    SDPA's CPU kernel, built for many queries at once, still runs the prompt. Only a model on SDPA
    changes, and only one that takes a custom attention. Returns whether the model changed.
    Unusable, and the model unchanged, where transformers' attention interface is not there, or
    alttext's attention gives other outputs than transformers' SDPA function on a probe."""
    try:
        from transformers import AttentionInterface
        from transformers.integrations.sdpa_attention import sdpa_attention_forward
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface, sdpa_mask
    except ImportError:
        raise Unusable(ATTENTION) from None
    if not hasattr(model.config, "_attn_implementation") or not _decode_attention_agrees(sdpa_attention_forward):
        raise Unusable(ATTENTION)
    if model.config._attn_implementation != "sdpa":
        return False
    try:
        AttentionInterface.register(DECODE_ATTENTION, decode_attention)
        if DECODE_ATTENTION not in ALL_MASK_ATTENTION_FUNCTIONS:
            AttentionMaskInterface.register(DECODE_ATTENTION, sdpa_mask)
    except (AttributeError, TypeError, ValueError):
        raise Unusable(ATTENTION) from None
    try:
        model.set_attn_implementation(DECODE_ATTENTION)
    except (ValueError, NotImplementedError, AttributeError):  # a model that takes no custom attention
        model.set_attn_implementation("sdpa")
        return False
    return model.config._attn_implementation == DECODE_ATTENTION


def _decode_attention_agrees(sdpa_attention_forward: Any) -> bool:
    """Whether ``decode_attention`` gives what transformers' SDPA attention gives, on fixed
    numbers: one new token per row (left padding and unwritten room masked), a prompt, and both
    after a prefix kept once for all rows."""
    import torch

    class Attention(torch.nn.Module):
        num_key_value_groups, is_causal, layer_idx = 2, True, 0

    try:
        with torch.inference_mode():
            key, value = probe_values((2, 2, 6, 8), torch.float32), probe_values((2, 2, 6, 8), torch.float32).flip(-1)
            shared_keys, shared_values = probe_values((1, 2, 3, 8), torch.float32).flip(-2), probe_values((1, 2, 3, 8), torch.float32)
            for tokens in (1, 3):
                query = probe_values((2, 4, tokens, 8), torch.float32).flip(0) * 2
                mask = torch.ones(2, 1, tokens, 6, dtype=torch.bool).tril(6 - tokens - 1)
                mask[0, ..., :2] = False  # left padding
                want, _ = sdpa_attention_forward(Attention(), query, key, value, mask, scaling=0.3)
                got, _ = decode_attention(Attention(), query, key, value, mask, scaling=0.3)
                whole = torch.cat([torch.ones(2, 1, tokens, 3, dtype=torch.bool), mask], dim=-1)
                want_prefix, _ = sdpa_attention_forward(Attention(), query, torch.cat([shared_keys.expand(2, -1, -1, -1), key], 2),
                                                        torch.cat([shared_values.expand(2, -1, -1, -1), value], 2), whole, scaling=0.3)
                got_prefix, _ = decode_attention(Attention(), query, key, value, mask, scaling=0.3, alttext_prefix=[(shared_keys, shared_values)])
                if differs(got, want, torch.float32) or differs(got_prefix, want_prefix, torch.float32):
                    return False
    except Exception:  # anything going wrong in a probe means the public path
        return False
    return True


def decode_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float | None = None,
                     dropout: float = 0.0, alttext_prefix: Sequence[tuple[Any, Any]] | None = None, **kwargs: Any) -> tuple[Any, None]:
    """``query``: (rows, heads, 1, dim); ``key``/``value``: (rows, kv heads, length, dim); the mask
    (rows, 1, 1, length), True where a row may look. Returns (rows, 1, heads, dim). With
    ``alttext_prefix`` (per layer, the keys and values of a prefix every row starts with, one row),
    see ``prefix_attention``. Anything else (the prompt, no mask) goes to SDPA."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    rows, heads, length, dim = query.shape
    if alttext_prefix is not None:
        shared_keys, shared_values = alttext_prefix[module.layer_idx]
        if length == 1 and not dropout:
            return prefix_attention(query, key, value, attention_mask, scaling, shared_keys, shared_values), None
        # The prompt: SDPA's kernel over the prefix (copied per row, for this layer only) and the
        # columns the rows' cache holds so far, each key/value head read by its query heads.
        if attention_mask is not None:
            filled = int(attention_mask.reshape(-1, attention_mask.shape[-1]).any(0).nonzero().max()) + 1
            key, value, attention_mask = key[:, :, :filled], value[:, :, :filled], attention_mask[..., :filled]
        key = torch.cat([shared_keys.expand(rows, -1, -1, -1), key], dim=2)
        value = torch.cat([shared_values.expand(rows, -1, -1, -1), value], dim=2)
        if attention_mask is not None:
            visible = attention_mask.new_ones(*attention_mask.shape[:-1], shared_keys.shape[2])
            attention_mask = torch.cat([visible.expand(attention_mask.shape[0], -1, -1, -1), attention_mask], dim=-1)
        else:  # causal, the prefix visible to all
            attention_mask = torch.ones(1, 1, length, key.shape[2], dtype=torch.bool, device=query.device).tril(key.shape[2] - length)
        out = torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, dropout_p=dropout,
                                                                scale=scaling, enable_gqa=True)
        return out.transpose(1, 2), None
    if length != 1 or attention_mask is None or attention_mask.dtype != torch.bool or dropout or kwargs.get("output_attentions"):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    kv_heads = key.shape[1]
    grouped = query.reshape(rows, kv_heads, heads // kv_heads, dim)  # query head h reads key/value head h // group
    scores = torch.matmul(grouped, key.transpose(-1, -2)) * (scaling if scaling is not None else dim**-0.5)
    scores = scores.float().masked_fill(~attention_mask.reshape(rows, 1, 1, -1), float("-inf"))
    out = torch.matmul(torch.softmax(scores, dim=-1).to(value.dtype), value)
    return out.reshape(rows, 1, heads, dim), None


def prefix_attention(query: Any, key: Any, value: Any, attention_mask: Any, scaling: float | None, shared_keys: Any,
                     shared_values: Any) -> Any:
    """Attention over a prefix every row shares, kept once, then each row's own columns.

    ``query``: (rows, heads, tokens, dim); ``key``/``value``: each row's own columns (rows, kv
    heads, length, dim), the mask (rows, 1, tokens, length) True where a row may look, or None (all,
    causal for the last ``tokens``); ``shared_keys``/``shared_values``: (1, kv heads, prefix, dim),
    which every query sees. One softmax over both, in float: SDPA's arithmetic over the prefix
    followed by the row's columns, but the prefix is read once for all rows, and no row's cache
    holds a copy of it. Returns (rows, tokens, heads, dim).
    """
    import torch

    rows, heads, tokens, dim = query.shape
    kv_heads, length, width = key.shape[1], key.shape[2], shared_keys.shape[2]
    group = heads // kv_heads  # query head h reads key/value head h // group
    grouped = query.reshape(rows, kv_heads, group * tokens, dim)
    # All rows' queries as one matrix per key/value head against the prefix's keys.
    across = grouped.transpose(0, 1).reshape(kv_heads, rows * group * tokens, dim)
    scores = torch.cat([torch.matmul(across, shared_keys[0].transpose(-1, -2)).reshape(kv_heads, rows, group * tokens, width).transpose(0, 1),
                        torch.matmul(grouped, key.transpose(-1, -2))], dim=-1).float()
    scores = scores * (scaling if scaling is not None else dim**-0.5)
    if attention_mask is None and tokens > 1:
        attention_mask = torch.ones(tokens, length, dtype=torch.bool, device=query.device).tril(length - tokens)
    if attention_mask is not None:
        own = scores.view(rows, kv_heads, group, tokens, width + length)[..., width:]
        own.masked_fill_(~attention_mask.reshape(-1, 1, 1, tokens, length), float("-inf"))
    probs = torch.softmax(scores, dim=-1).to(value.dtype)
    first = probs[..., :width].transpose(0, 1).reshape(kv_heads, rows * group * tokens, width)
    out = torch.matmul(first, shared_values[0]).reshape(kv_heads, rows, group * tokens, dim).transpose(0, 1).float()
    out = (out + torch.matmul(probs[..., width:], value).float()).to(value.dtype)
    return out.reshape(rows, kv_heads, group, tokens, dim).reshape(rows, heads, tokens, dim).transpose(1, 2)
