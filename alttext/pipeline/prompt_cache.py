"""The key/value caches of the in-process writer's prompts.

Every prompt starts with the same system message, so the tokens a batch shares are run through
the model once, and their cache is kept (``PromptCache.prefix_cache``): the next batch, and the
retry, run only the shared tokens that differ. The writer may also keep the cache of a batch's
rows (``keep``): a retry, whose prompt is the first one with the broken rules added near the end,
then runs only what follows the part it shares with it. Each row generates from a preallocated
(static) cache holding that prefix, padding, its own tokens and room for a typical answer
(``ANSWER_ROOM``; it grows when an answer needs more), so every row generates from its own last
token and no token copies the whole cache. With alttext's decode attention (CPU), the prefix is
not copied into each row: it stays one row outside the batch's cache, read once per step for all
rows (``fast_path.decode_attention``). All of this relies on the layers of transformers' caches;
the writer's decode-loop probe checks them at load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alttext.pipeline.fast_path.decode_attention import DECODE_ATTENTION

# Columns preallocated for each row's answer. An alt text of the default length is about 30 to 40
# tokens; ``max_new_tokens`` only bounds a runaway answer. Every decode step reads every column of
# the cache, written or not, so a cache sized for all of it would read about a hundred empty
# columns per row and step, and hold them in memory; an answer that needs more grows it.
ANSWER_ROOM = 64


@dataclass
class Batch:
    """A batch as written: each row's prompt tokens, the mask of the prompt's columns, the cache,
    and from which token a kept row's cache is taken: the end of the instructions (the system
    message and the worked examples) every prompt of the language and kind starts with, so that a
    retry batch whose rows share less than this batch's did (captions that start alike here, not
    there) still takes it."""

    rows: list[list[int]]
    mask: Any
    cache: Any
    start: int
    shared: int = 0  # with a separate prefix: its length (the cache holds the columns after it)
    prefix: list[tuple[Any, Any]] | None = None  # the prefix's keys and values per layer, one row, or None


@dataclass
class Kept:
    """One row's cache for its prompt tokens from ``start`` on: per layer, (kv heads, tokens, dim)."""

    tokens: list[int]
    start: int
    keys: list[Any]
    values: list[Any]


def common(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` have in common."""
    n = min(len(a), len(b))
    return next((k for k in range(n) if a[k] != b[k]), n)


def shared_prefix(rows: Sequence[Sequence[int]]) -> int:
    """How many leading tokens every row has in common, leaving each row one of its own."""
    return max(0, min(common(rows[0][:-1], r[:-1]) for r in rows))


def make_room(cache: Any, tokens: int) -> None:
    """Grow each layer of a preallocated cache in place, by ``ANSWER_ROOM`` columns, when the next
    ``tokens`` would not fit: new key and value buffers, the old ones copied in (rare: only for an
    answer longer than the room), the same object for everyone who holds it. Only plain static
    layers grow, as ``PromptCache.room`` counts on; they all hold the same columns, so the first
    is checked."""
    from transformers.cache_utils import StaticLayer

    layers = [layer for layer in cache.layers if type(layer) is StaticLayer and layer.is_initialized]
    if not layers or int(layers[0].cumulative_length) + tokens <= layers[0].max_cache_len:
        return
    for layer in layers:
        for name in ("keys", "values"):
            old = getattr(layer, name)
            rows, heads, length, dim = old.shape
            grown = old.new_zeros(rows, heads, length + ANSWER_ROOM, dim)
            grown[:, :, :length] = old
            setattr(layer, name, grown)
        layer.max_cache_len += ANSWER_ROOM


class PromptCache:
    """A loaded writer's caches: the last shared prefix, the last batch written, the rows kept."""

    def __init__(self, model: Any, pad_token_id: int, device: str, batch_size: int) -> None:
        self.model = model
        self.pad_token_id = pad_token_id
        self.device = device
        self.batch_size = batch_size
        # The last shared prefix run (its tokens and KV cache, one row). Every prompt starts with
        # the same instructions, so the next batch, and the retry, start from it.
        self.prefix: tuple[list[int], Any] | None = None
        self.prefix_tokens_run = 0  # prefix tokens the model actually ran (the rest were reused)
        self.last: Batch | None = None  # the last batch written, until keep() or the next batch
        self.kept: list[Kept] = []  # rows kept for a retry
        self._growable: bool | None = None  # whether the model's preallocated cache can grow (see room)

    def reset(self) -> None:
        """Forget the last prefix and batch (after the load-time probe)."""
        self.prefix, self.last, self.prefix_tokens_run = None, None, 0

    def separate_prefix(self) -> bool:
        """Whether the shared prefix stays one row of its own, outside the batch's cache: with
        alttext's attention (CPU), which reads it once per step for all rows. Otherwise each row's
        cache starts with a copy of it."""
        return getattr(self.model.config, "_attn_implementation", None) == DECODE_ATTENTION

    @property
    def growable(self) -> bool:
        """Whether every layer of the model's preallocated cache is a plain static one, which
        ``make_room`` grows (not a sliding window)."""
        from transformers.cache_utils import StaticCache, StaticLayer

        if self._growable is None:
            self._growable = all(type(layer) is StaticLayer for layer in StaticCache(config=self.model.config, max_cache_len=1).layers)
        return self._growable

    def room(self, max_new_tokens: int) -> int:
        """Columns to preallocate for each row's answer: ``ANSWER_ROOM`` (the cache grows when an
        answer needs more, see ``make_room``), or all of ``max_new_tokens`` where the cache does
        not grow."""
        return min(max_new_tokens, ANSWER_ROOM) if self.growable else max_new_tokens

    def layout(self, rows: list[list[int]], start: int, room: int) -> tuple[dict[str, Any], int, Batch]:
        """Generation inputs for token rows that share a prefix of two tokens or more, with the
        shared prefix already run: (inputs, prompt length, the batch). Layout per row: ``[shared
        prefix][padding][own tokens]``; the mask hides the padding, and the positions derived from
        it stay contiguous for the real tokens. A row that starts like a kept row (see ``keep``)
        takes that row's cache, from ``start`` on, for the tokens they share: ``[shared
        prefix][padding][kept tokens][padding][the rest]``, and only the rest runs. With a separate
        prefix its keys and values are ``inputs["prefix"]`` (one row, per layer) and the cache
        holds the columns after it; otherwise the cache starts with a copy of it per row. ``room``:
        columns for the answer."""
        import torch

        shared = shared_prefix(rows)
        taken = self.take_kept(rows, shared)
        reused = [t.keys[0].shape[1] if t is not None else 0 for t in taken]
        width = max(reused)
        rest = [row[shared + n :] for row, n in zip(rows, reused)]
        tail = max(len(r) for r in rest)
        pad = self.pad_token_id
        ids = torch.tensor([row[:shared] + [pad] * (width - n) + row[shared : shared + n] + [pad] * (tail - len(r)) + r
                            for row, n, r in zip(rows, reused, rest)], device=self.device)
        mask = torch.tensor([[1] * shared + [0] * (width - n) + [1] * n + [0] * (tail - len(r)) + [1] * len(r)
                             for n, r in zip(reused, rest)], device=self.device)
        prefix = self.prefix_cache(rows[0][:shared])
        kept = taken if width else None
        if not self.separate_prefix():
            cache = self.preallocated(prefix, len(rows), ids.shape[1] + room, kept)
            return {"input_ids": ids, "attention_mask": mask, "cache": cache}, ids.shape[1], Batch(rows, mask, cache, start)
        cache = self.preallocated(None, len(rows), ids.shape[1] - shared + room, kept)
        layers = [(layer.keys, layer.values) for layer in prefix.layers]
        inputs = {"input_ids": ids, "attention_mask": mask, "cache": cache, "prefix": layers}
        return inputs, ids.shape[1], Batch(rows, mask, cache, start, shared, layers)

    def preallocated(self, prefix: Any | None, rows: int, length: int, kept: Sequence[Kept | None] | None = None) -> Any:
        """A StaticCache of ``length`` tokens for ``rows`` rows, each starting with the one-row
        ``prefix`` (if any), then (with ``kept``) each row's kept tokens, right-aligned after it.
        Generation writes each new token in place, where a DynamicCache copies the whole cache
        (every row, every layer) per token."""
        from transformers.cache_utils import StaticCache

        static = StaticCache(config=self.model.config, max_cache_len=length)
        for index, layer in enumerate(prefix.layers if prefix is not None else ()):
            static.update(layer.keys.expand(rows, -1, -1, -1), layer.values.expand(rows, -1, -1, -1), index)
        some = next((k for k in kept or () if k is not None), None)
        if kept and some is not None:
            width = max(k.keys[0].shape[1] for k in kept if k is not None)
            end = static.get_seq_length() + width
            for index, layer in enumerate(static.layers):
                heads, _, dim = some.keys[index].shape
                empty = some.keys[index].new_zeros(1, heads, width, dim).expand(rows, -1, -1, -1)
                static.update(empty, empty, index)
                for row, k in enumerate(kept):
                    if k is not None:
                        layer.keys[row, :, end - k.keys[index].shape[1] : end] = k.keys[index]
                        layer.values[row, :, end - k.values[index].shape[1] : end] = k.values[index]
        return static

    def keep(self, rows: Sequence[int]) -> None:
        """Keep the cache of these rows of the last batch written, for a later batch that starts
        like them (a retry: the same prompt up to the rules it broke). The rest of that batch's
        cache is released. At most two batches of rows are kept; the oldest go first."""
        import torch

        last, self.last = self.last, None
        if last is None:
            return
        for k in rows:
            tokens = last.rows[k]
            columns = last.mask[k].nonzero().squeeze(-1)[last.start : len(tokens)]  # where its prompt tokens are, from start
            inner = columns[columns >= last.shared] - last.shared  # in the batch's cache
            outer = columns[columns < last.shared]  # in the separate prefix, if any
            keys, values = [], []
            for index, layer in enumerate(last.cache.layers):
                key, value = layer.keys[k].index_select(1, inner), layer.values[k].index_select(1, inner)
                if last.prefix is not None and len(outer):
                    prefix_keys, prefix_values = last.prefix[index]
                    key = torch.cat([prefix_keys[0].index_select(1, outer), key], dim=1)
                    value = torch.cat([prefix_values[0].index_select(1, outer), value], dim=1)
                keys.append(key)
                values.append(value)
            self.kept.append(Kept(tokens, last.start, keys, values))
        del self.kept[: -2 * self.batch_size]

    def forget(self) -> None:
        """Release the kept rows and the last batch's cache (a run's writing is done)."""
        self.last = None
        self.kept.clear()

    def take_kept(self, rows: Sequence[list[int]], shared: int) -> list[Kept | None]:
        """For each row, the kept row that shares the most of its own tokens, cut to the tokens they
        share, and no longer kept; or None. A row takes a kept row only where it shares more than
        half of that row's own tokens (a retry shares all but the last lines of its first prompt),
        leaving itself one to run, and the longest matches go first: a row that only starts like a
        kept one (another picture, whose caption starts the same way) leaves it to its own retry."""
        matches = []  # (tokens shared, row, kept row)
        for r, row in enumerate(rows):
            for e, entry in enumerate(self.kept):
                same = common(row[:-1], entry.tokens)
                if entry.start <= shared < same and 2 * (same - entry.start) > len(entry.tokens) - entry.start:
                    matches.append((same, r, e))
        matches.sort(key=lambda match: -match[0])
        taken: list[Kept | None] = [None] * len(rows)
        used: set[int] = set()
        for same, r, e in matches:
            if taken[r] is None and e not in used:
                used.add(e)
                entry = self.kept[e]
                cut = slice(shared - entry.start, same - entry.start)
                taken[r] = Kept(rows[r][:same], shared, [k[:, cut] for k in entry.keys], [v[:, cut] for v in entry.values])
        self.kept = [entry for e, entry in enumerate(self.kept) if e not in used]
        return taken

    def prefix_cache(self, tokens: list[int]) -> Any:
        """The KV cache of ``tokens`` for one row, kept as the last prefix. The part it shares with
        the last prefix is that one's cache, cropped in place; only the rest runs through the model.
        Callers read it (``preallocated`` copies it) and never change it."""
        import torch

        last, self.prefix = self.prefix, None  # no half-changed prefix is kept if the model fails
        known = common(last[0], tokens[:-1]) if last is not None else 0  # at least one token runs, or the cache is cropped
        cache = None
        if known:
            cache = last[1]  # type: ignore[index]
            cache.crop(known - len(last[0]))  # type: ignore[index]  # a negative count: the tokens to remove
        rest = torch.tensor([tokens[known:]], device=self.device)
        with torch.inference_mode():
            cache = self.model(input_ids=rest, cache=cache, use_cache=True, logits_to_keep=1).cache
        self.prefix_tokens_run += len(tokens) - known
        self.prefix = (list(tokens), cache)
        return cache
