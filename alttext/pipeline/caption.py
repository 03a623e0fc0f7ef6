"""Stage 2: BLIP captions, batched and greedy. Torch and transformers are imported inside the
functions that need them (here as in ``runtime``, ``models``, ``prompt_cache``, ``fast_path`` and
the in-process writer), so importing this module loads neither.

Uses BlipForConditionalGeneration and BlipProcessor directly (the image-to-text pipeline is gone
in transformers 5). The model loads once, on first use, and stays on the instance.

The fast path (fused vision attention and grouped cross-attention, ``fast_path.blip_attention``;
packed linear layers, ``fast_path.packing``; both captions decoded together in alttext's own
loop, here) relies on library internals. Each is checked at load, on a probe against the public
computation; one that is missing or gives other numbers is not used, one warning line says so,
and BLIP's own ``generate()`` (or the plain layer) runs instead: slower, the same captions.
``fast_path=False`` runs the public path alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from alttext.pipeline.fast_path.blip_attention import (
    GROUPED_CROSS_ATTENTION,
    VISION_ATTENTION,
    cross_attention_layers,
    grouped_keys_values,
    ungroup_cross_attention,
    use_fused_vision_attention,
    use_grouped_cross_attention,
)
from alttext.pipeline.fast_path.packing import pack_linear_layers
from alttext.pipeline.fast_path.pages import PAGE_DROPPING, page_dropping_fails
from alttext.pipeline.fast_path.probe import differs, probe_values
from alttext.pipeline.models import Unusable, locate, model_load_error, warn_public_path
from alttext.pipeline.runtime import convert, no_loading_bars, pick_device, precision_dtypes, quiet_loading, use_cpu_threads

# The internals alttext's decode loop needs, as the fast path's warning names them.
DECODE_LOOP = "transformers' BLIP text decoder with cache= and StaticCache (alttext's decode loop)"

DEFAULT_CAPTIONER = "Salesforce/blip-image-captioning-base"


def hand_over(vision_model: Any, dtype: Any) -> None:
    """A vision encoder in a dtype of its own: it takes pixels in any dtype and hands its outputs
    to the text decoder in ``dtype``, so BLIP's own ``generate()`` runs on the model as loaded."""

    def pixels_in(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if kwargs.get("pixel_values") is not None:
            kwargs["pixel_values"] = kwargs["pixel_values"].to(module.dtype)
        return tuple(a.to(module.dtype) if getattr(a, "is_floating_point", lambda: False)() else a for a in args), kwargs

    def outputs_out(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Any:
        for key, value in output.items():
            if getattr(value, "is_floating_point", lambda: False)():
                output[key] = value.to(dtype)
        return output

    vision_model.register_forward_pre_hook(pixels_in, with_kwargs=True)
    vision_model.register_forward_hook(outputs_out, with_kwargs=True)


class Captioner:
    def __init__(self, model: str = DEFAULT_CAPTIONER, device: str = "auto", batch_size: int = 8, max_new_tokens: int = 30,
                 precision: str = "auto", fast_path: bool = True) -> None:
        self.model_id = model
        self.device_setting = device
        self.precision = precision
        self.batch_size = max(1, batch_size)
        self.max_new_tokens = max_new_tokens
        self.fast_path = fast_path  # False: BLIP's own generate() and plain layers, no library internals
        self._model: Any = None
        self._processor: Any = None
        self._fast = False  # alttext's own decode loop (else BLIP's generate()), decided at load
        self._grouped = False  # the cross-attention takes several rows per image
        self._packed = 0  # linear layers packed for oneDNN
        self.device = "cpu"

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        if self._model is not None:
            return
        # On this machine, or the hub reachable: checked in seconds, before importing transformers
        # (seconds more) and before the hub client's retries (minutes).
        local = {"local_files_only": True} if locate(self.model_id, "captioner", "captioner") else {}
        with quiet_loading():
            from transformers import BlipForConditionalGeneration, BlipProcessor

        no_loading_bars()
        self.device = pick_device(self.device_setting)
        vision, text = precision_dtypes(self.precision, self.device)
        try:
            self._processor = BlipProcessor.from_pretrained(self.model_id, **local)
            with quiet_loading():
                model = BlipForConditionalGeneration.from_pretrained(self.model_id, dtype=text, **local)
        except (OSError, ValueError) as exc:
            raise model_load_error("captioner", self.model_id, "captioner", exc) from None
        model = model.to(self.device).eval()
        if vision != text:
            hand_over(convert(model.vision_model, vision, release=self.fast_path), text)
        if self.device == "cpu":
            use_cpu_threads()
        self._model = model
        missing = self._use_fast_path() if self.fast_path else []
        if self.fast_path and (vision != text or self._packed) and page_dropping_fails():
            missing.append(PAGE_DROPPING)
        warn_public_path("captioner", missing)

    def _use_fast_path(self) -> list[str]:
        """Turn on each part of the fast path whose internals are here and behave; the names of
        the others."""
        missing = []
        model = self._model
        try:
            if use_fused_vision_attention(model) == 0:
                raise Unusable(VISION_ATTENTION)
        except Unusable as exc:
            missing.append(str(exc))
        if self.device == "cpu":
            try:
                # The output layer too (tied to the word embedding): its plain product is a large
                # part of each decode step. A packed copy of it costs its size in memory (94 MB for
                # BLIP base).
                self._packed = pack_linear_layers(model, tied=True)
            except Unusable as exc:
                missing.append(str(exc))
        try:
            self._grouped = use_grouped_cross_attention(model) > 0
            if not self._grouped:
                raise Unusable(GROUPED_CROSS_ATTENTION)
        except Unusable as exc:
            missing.append(str(exc))
        self._fast = self._decoder_agrees()
        if not self._fast and self._grouped:  # without the grouped cross-attention, perhaps
            self._ungroup()
            self._fast = self._decoder_agrees()
            if self._fast:
                missing.append(GROUPED_CROSS_ATTENTION)
        if not self._fast:
            self._ungroup()
            missing.append(DECODE_LOOP)
        return missing

    def _ungroup(self) -> None:
        if self._grouped:
            ungroup_cross_attention(self._model)
            self._grouped = False

    def _decoder_agrees(self) -> bool:
        """Whether alttext's decode loop, on fixed image embeddings (two images, a plain caption
        and one continuing a prompt, each), gives the logits of BLIP's text decoder run over the
        whole rows, step after step; and, with the grouped cross-attention, whether the loop's
        cache lets it read each image's keys and values once."""
        import torch

        decoder = self._model.text_decoder
        try:
            from transformers.cache_utils import DynamicCache, EncoderDecoderCache

            dtype = decoder.dtype
            with torch.inference_mode():
                embeds = probe_values((2, 3, self._model.config.vision_config.hidden_size), dtype)
                if self._grouped:
                    cross = self._cross_attention(embeds)
                    layer = cross_attention_layers(self._model)[0]
                    if cross is None or grouped_keys_values(layer, EncoderDecoderCache(DynamicCache(), cross), 4, embeds, None) is None:
                        return False
                steps: list[tuple[Any, Any]] = []
                self._decode(embeds, [None, "a"], seen=steps, tokens=2)  # the prompts, then one token
                for j, prompt in enumerate([None, "a"]):
                    start = self._start(prompt)
                    rows = slice(2 * j, 2 * j + 2)
                    ids = torch.tensor([start] * 2, device=embeds.device)
                    ids = torch.cat([ids, torch.stack([chosen[rows] for _, chosen in steps[:-1]], dim=1)], dim=1) if len(steps) > 1 else ids
                    logits = decoder(input_ids=ids, encoder_hidden_states=embeds, is_decoder=True).logits
                    for s, (got, _) in enumerate(steps):
                        if differs(got[rows], logits[:, len(start) - 1 + s], dtype):
                            return False
        except Exception:  # anything going wrong in a probe means the public path
            return False
        return bool(steps)

    def caption(self, images: Sequence[Any], prompt: str | None = None) -> list[str]:
        """One caption per image, in order. With ``prompt``, BLIP continues that text (a
        conditional caption) and the prompt is removed from the result."""
        return [texts[0] or "" for texts in self._captions(images, [prompt])]

    def caption_pair(self, images: Sequence[Any], prompt: str,
                     wanted: Callable[[int, str], bool] | None = None) -> list[tuple[str, str | None]]:
        """(plain caption, caption continuing ``prompt``) per image. On the fast path the vision
        encoder, most of the cost, runs once for both, and both are decoded together. With ``wanted`` (the image's
        index and plain caption -> whether the second is needed), the second is None where it is
        not, and its decoding stops as soon as the plain caption ends."""
        return [(plain or "", second) for plain, second in self._captions(images, [None, prompt], wanted)]

    def _captions(self, images: Sequence[Any], prompts: Sequence[str | None],
                  wanted: Callable[[int, str], bool] | None = None) -> list[tuple[str | None, ...]]:
        import torch

        self.load()
        out: list[tuple[str | None, ...]] = []
        for start in range(0, len(images), self.batch_size):
            batch = list(images[start : start + self.batch_size])
            pixels = self._processor(images=batch, return_tensors="pt")["pixel_values"].to(self.device, self._model.vision_model.dtype)
            offset = None if wanted is None else lambda k, text, start=start: wanted(start + k, text)
            with torch.inference_mode():
                if self._fast:
                    embeds = self._model.vision_model(pixel_values=pixels)[0]
                    out.extend(self._decode(embeds, prompts, offset))
                else:
                    out.extend(self._generate(pixels, prompts, offset))
        return out

    def _generate(self, pixels: Any, prompts: Sequence[str | None],
                  wanted: Callable[[int, str], bool] | None = None) -> list[tuple[str | None, ...]]:
        """The public path: BLIP's own greedy ``generate()``, once per prompt (each runs the vision
        encoder again). With ``wanted``, the second prompt only for the images whose first caption
        asks for it. The texts per image, in the order of ``prompts``."""
        images = pixels.shape[0]
        texts: list[list[str | None]] = [[None] * len(prompts) for _ in range(images)]
        todo = list(range(images))
        for j, prompt in enumerate(prompts):
            if j == 1 and wanted is not None:
                todo = [k for k in todo if wanted(k, texts[k][0] or "")]
            if not todo:
                break
            kwargs: dict[str, Any] = {}
            if prompt:
                encoded = self._processor.tokenizer([prompt] * len(todo), return_tensors="pt").to(self.device)
                kwargs = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
            ids = self._model.generate(pixel_values=pixels[todo], max_new_tokens=self.max_new_tokens, do_sample=False, num_beams=1, **kwargs)
            for k, row in zip(todo, ids.tolist()):
                texts[k][j] = self._text(prompt, row)
        return [tuple(t) for t in texts]

    def _text(self, prompt: str | None, tokens: Sequence[int]) -> str:
        """A row's caption: its tokens as words, without the prompt it continues."""
        words = " ".join(self._processor.decode(list(tokens), skip_special_tokens=True).split())
        return words[len(prompt):].strip() if prompt and words.lower().startswith(prompt.lower()) else words

    def _start(self, prompt: str | None) -> list[int]:
        """The tokens a caption starts from, as BLIP's ``generate()`` makes them: BOS, then the
        prompt's tokens (without the tokenizer's closing SEP)."""
        ids = self._processor.tokenizer(prompt)["input_ids"][:-1] if prompt else [self._model.decoder_input_ids]
        return [self._model.config.text_config.bos_token_id, *ids[1:]]

    def _cross_attention(self, embeds: Any) -> Any:
        """The text decoder's cross-attention keys and values of ``embeds``, every layer, as the
        decoder computes them on its first step: computed once for both captions of a batch, not
        once per caption. None for a decoder of another shape (it then computes its own)."""
        from transformers.cache_utils import DynamicCache

        try:
            layers = [layer.crossattention.self for layer in self._model.text_decoder.bert.encoder.layer]
            cache = DynamicCache()
            for index, attention in enumerate(layers):
                shape = (*embeds.shape[:-1], -1, attention.attention_head_size)
                cache.update(attention.key(embeds).view(shape).transpose(1, 2), attention.value(embeds).view(shape).transpose(1, 2), index)
        except AttributeError:
            return None
        return cache

    def _decode(self, embeds: Any, prompts: Sequence[str | None], wanted: Callable[[int, str], bool] | None = None,
                seen: list[tuple[Any, Any]] | None = None, tokens: int | None = None) -> list[tuple[str | None, ...]]:
        """The text decoder on precomputed image embeddings, greedy, as
        BlipForConditionalGeneration.generate runs it: a prompt's tokens (or none) after BOS, up to
        SEP or ``max_new_tokens`` (or ``tokens``). Every prompt at once, one row per image and
        prompt (row ``j * images + k``), each step reading the decoder's weights, and each image's
        cross-attention keys and values (see ``_cross_attention``), once for all of them. Shorter
        prompts are padded on the left, masked, with each row's own positions. With ``wanted`` (the
        image's index and its first caption -> whether the others are needed), an image's other
        rows stop, and give None, as soon as its first caption ends and is not wanted. ``seen``
        gets each step's logits and chosen tokens (the load-time probe). The texts per image, in
        the order of ``prompts``."""
        import torch
        from transformers.cache_utils import DynamicCache, EncoderDecoderCache, StaticCache

        config = self._model.config.text_config
        images, device = embeds.shape[0], embeds.device
        steps = self.max_new_tokens if tokens is None else tokens
        cross = self._cross_attention(embeds) if self._grouped or len(prompts) == 1 else None
        if cross is None:  # a decoder of another shape, or a cross-attention that takes one row per image: each row computes its own
            cross, embeds = DynamicCache(), embeds.repeat(len(prompts), 1, 1)
        starts = [self._start(prompt) for prompt in prompts]
        ids, mask, positions = _left_padded(starts, images, config.pad_token_id, device)
        following = positions[:, -1] + 1  # each row's next position
        # Each row's own tokens in a cache preallocated for all of them, written in place (a growing
        # one copies every row and layer at each step).
        cache = EncoderDecoderCache(StaticCache(config=config, max_cache_len=ids.shape[1] + steps), cross)
        rows = _Rows(self._text, prompts, starts, images, wanted, device)
        for _ in range(steps):
            logits = self._model.text_decoder(input_ids=ids, attention_mask=mask, position_ids=positions, encoder_hidden_states=embeds,
                                              cache=cache, use_cache=True, is_decoder=True, logits_to_keep=1).logits[:, -1]
            chosen = torch.where(rows.running, logits.argmax(-1), config.pad_token_id)
            if seen is not None:
                seen.append((logits, chosen))
            if not rows.add(chosen, config.sep_token_id):
                break
            ids, positions, following = chosen[:, None], following[:, None], following + 1
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
        return rows.captions()


def _left_padded(starts: Sequence[list[int]], images: int, pad: int, device: Any) -> tuple[Any, Any, Any]:
    """Each prompt's start tokens, one row per image (row ``j * images + k``), padded on the left
    to the longest: (tokens, mask, each row's own positions)."""
    import torch

    rows, width = images * len(starts), max(len(ids) for ids in starts)
    tokens = torch.full((rows, width), pad, dtype=torch.long, device=device)
    mask = torch.zeros((rows, width), dtype=torch.long, device=device)
    positions = torch.zeros((rows, width), dtype=torch.long, device=device)
    for j, ids in enumerate(starts):
        part = slice(j * images, (j + 1) * images)
        tokens[part, width - len(ids):] = torch.tensor(ids, device=device)
        mask[part, width - len(ids):] = 1
        positions[part, width - len(ids):] = torch.arange(len(ids), device=device)
    return tokens, mask, positions


class _Rows:
    """The rows of one decode (row ``j * images + k``: image ``k``, prompt ``j``): the tokens each
    has chosen, which still run, and each image's first caption once it has ended. With
    ``wanted``, an image's other rows stop as soon as its first caption ends and is not wanted."""

    def __init__(self, text: Callable[[str | None, Sequence[int]], str], prompts: Sequence[str | None], starts: Sequence[list[int]],
                 images: int, wanted: Callable[[int, str], bool] | None, device: Any) -> None:
        import torch

        self._text, self.prompts, self.starts, self.images, self.wanted = text, prompts, starts, images, wanted
        self.generated: list[list[int]] = []
        self.running = torch.ones(images * len(prompts), dtype=torch.bool, device=device)
        self.firsts: dict[int, str] = {}  # the first captions that have ended, by image
        self.unwanted: set[int] = set()

    def text(self, row: int) -> str:
        j = row // self.images
        return self._text(self.prompts[j], [*self.starts[j], *(step[row] for step in self.generated)])

    def add(self, chosen: Any, sep: int) -> bool:
        """Each row's chosen token (padding where it no longer runs); whether any row still runs."""
        self.generated.append(chosen.tolist())
        self.running &= chosen != sep
        for k, going in enumerate(self.running[: self.images].tolist()):
            if not going and k not in self.firsts:
                self._first_ended(k)
        return bool(self.running.any())

    def _first_ended(self, k: int) -> None:
        """Image ``k``'s first caption has ended: stop its other rows if they are not wanted."""
        self.firsts[k] = self.text(k)
        if self.wanted is not None and len(self.prompts) > 1 and not self.wanted(k, self.firsts[k]):
            self.unwanted.add(k)
            self.running[self.images + k :: self.images] = False

    def captions(self) -> list[tuple[str | None, ...]]:
        """The texts per image, in the order of the prompts; None for an unwanted one."""
        for k in range(self.images):
            if k not in self.firsts:
                self._first_ended(k)
        images = range(self.images)
        return [(self.firsts[k], *(None if k in self.unwanted else self.text(j * self.images + k) for j in range(1, len(self.prompts))))
                for k in images]
