"""The in-process writer: a causal LM (default Qwen/Qwen3-0.6B) through transformers.

Loaded once, on first use. Prompts go through the model's own chat template with thinking off.
Every prompt starts with the same instructions: the tokens a batch shares run once, and a retry
runs only what follows the part it shares with its first prompt (``prompt_cache``). On CPU the
linear layers' weights are packed once for oneDNN (``fast_path.packing``): the same bf16 or fp32
arithmetic, for decode steps of a few rows whose cost is reading the weights; and attention for
the one new token per row reads the shared prefix once for all rows
(``fast_path.decode_attention``). ``quantize="int8"`` (CPU) quantizes the linear layers with
torchao's dynamic int8 quantization instead (``fast_path.int8``); ``"auto"`` picks per machine
(``quantization``). Sampling uses the settings Qwen3 recommends for non-thinking use (temperature
0.6, top_p 0.95, top_k 20; a temperature of 0 is greedy), in alttext's own decode loop:
``generate()``'s arithmetic, without its per-token sort of and draw from the whole vocabulary.
The draws come from one generator per batch, so a batch is seeded from its images' seeds
together: the same images in the same batches give the same text on a rerun.

The decode loop relies on transformers internals (the cache's layers, the ``cache=`` keyword). It
is checked at load, with the rest of the fast path, on a probe against the public computation;
where an internal is missing or gives other numbers, it is not used, one warning line says so,
and the public path runs: ``generate()`` on left-padded batches with a static cache, the same
sampling settings, the same seeds (other draws from the same distribution). ``fast_path=False``
runs the public path alone.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Mapping, Sequence
from typing import Any

from alttext import messages
from alttext.pipeline.fast_path.decode_attention import ATTENTION, DECODE_ATTENTION, use_decode_attention
from alttext.pipeline.fast_path.int8 import quantize_int8
from alttext.pipeline.fast_path.packing import pack_linear_layers
from alttext.pipeline.fast_path.pages import PAGE_DROPPING, page_dropping_fails
from alttext.pipeline.fast_path.probe import differs
from alttext.pipeline.models import ModelLoadError, Unusable, locate, model_load_error, warn_public_path
from alttext.pipeline.prompt_cache import Batch, PromptCache, common, make_room, shared_prefix
from alttext.pipeline.runtime import cpu_flags, cpu_has_bf16, no_loading_bars, pick_device, quiet_loading, use_cpu_threads

DEFAULT_WRITER = "Qwen/Qwen3-0.6B"
# Tokens an answer may take: an alt text of the longest default budget (187 English characters, 90
# Chinese) is 50 to 90 tokens. A small model that rambles on stops here instead of at 256; what
# it says past the budget is cut by cleaning anyway.
ANSWER_TOKENS = 160

# The internals the decode loop needs, as the fast path's warning names them.
DECODE_LOOP = "transformers' cache= keyword, StaticCache and DynamicCache layers (alttext's decode loop)"


def quantization(setting: str, device: str = "cpu", cpuinfo: str = "/proc/cpuinfo") -> str:
    """What ``quantize`` means here: "int8" or "none". "auto" picks per machine: int8 on an x86-64
    CPU without AMX where torchao is installed, where it is faster than bf16; none elsewhere (with
    AMX, whose matrix unit runs bf16, int8 is slower; other CPUs were not measured). "int8"
    applies on CPU only."""
    if setting != "auto":
        return setting if device != "cuda" else "none"
    flags = cpu_flags(cpuinfo)
    x86 = "sse2" in flags  # Linux lists flags; an x86-64 CPU always has SSE2
    return "int8" if device != "cuda" and x86 and "amx_bf16" not in flags and _installed("torchao") else "none"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # in sys.modules as None: taken away
        return False


def gguf_source(model: str) -> tuple[str, dict[str, str]]:
    """Where ``from_pretrained`` finds a model: a ``.gguf`` file (as Ollama and LM Studio keep them)
    loads from its folder with ``gguf_file``; a hub id or a folder as it is."""
    if model.lower().endswith(".gguf") and os.path.isfile(model):
        folder, name = os.path.split(os.path.abspath(model))
        return folder, {"gguf_file": name}
    return model, {}


def _batch_seed(seeds: Sequence[int | None]) -> int:
    digest = hashlib.sha256(",".join(str(s) for s in seeds).encode()).hexdigest()
    return int(digest[:8], 16)


class TransformersWriter:
    def __init__(
        self,
        model: str = DEFAULT_WRITER,
        device: str = "auto",
        batch_size: int = 8,
        temperature: float = 0.6,
        top_p: float = 0.95,
        top_k: int = 20,
        max_new_tokens: int = ANSWER_TOKENS,
        quantize: str = "none",
        fast_path: bool = True,
    ) -> None:
        self.model_id = model
        self.device_setting = device
        self.batch_size = max(1, batch_size)
        self.temperature, self.top_p, self.top_k = temperature, top_p, top_k
        self.max_new_tokens = max_new_tokens
        self.quantize = quantize
        self.fast_path = fast_path  # False: generate() and plain layers, no library internals
        self.device = "cpu"
        self._fast = False  # alttext's own decode loop (else generate()), decided at load
        self._int8 = False  # the linear layers quantized to int8, decided at load
        self._static_cache = True  # generate() with a static cache, until the model refuses one
        self._model: Any = None
        self.tokenizer: Any = None
        self._prompt_cache: PromptCache | None = None  # made at load

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        if self._model is not None:
            return
        source, options = self._source()
        no_loading_bars()
        self.device = pick_device(self.device_setting)
        int8 = self.device == "cpu" and quantization(self.quantize, self.device) == "int8"
        if int8 and not _installed("torchao"):
            raise ModelLoadError(messages.INT8_NEEDS)
        model = self._from_pretrained(source, options)
        missing, packed = self._on_cpu(model, int8)
        self._model = model
        self._prompt_cache = PromptCache(model, self.tokenizer.pad_token_id, self.device, self.batch_size)
        if self.fast_path:
            missing += self._use_fast_path()
            if packed and page_dropping_fails():
                missing.append(PAGE_DROPPING)
        warn_public_path("writer", missing)

    def _source(self) -> tuple[str, dict[str, Any]]:
        """Where ``from_pretrained`` reads the model, and its options: checked in seconds, before
        importing torch and transformers (seconds more) and before the hub client's retries
        (minutes), that it is on this machine or the hub is reachable."""
        source, options = gguf_source(self.model_id)
        # transformers reads a GGUF file with the gguf package, and loads it with accelerate.
        missing = [m for m in ("gguf", "accelerate") if options and not _installed(m)]
        if missing:
            raise ModelLoadError(messages.GGUF_NEEDS.format(model=self.model_id, module=" and ".join(missing)))
        if locate(self.model_id, "writer", "writer_model"):
            options = {**options, "local_files_only": True}
        return source, options

    def _from_pretrained(self, source: str, options: dict[str, Any]) -> Any:
        """The model, on its device in eval mode, and its tokenizer (``self.tokenizer``, padding
        on the left)."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        # bf16 is Qwen3's own precision: on a GPU, and on a CPU with native bf16 arithmetic, it
        # halves the memory and is faster. int8 quantization starts from the same weights (from
        # bf16 rather than fp32, its peak memory is 1.7 GB lower, at the same speed).
        native = self.device == "cuda" or (self.device == "cpu" and cpu_has_bf16())
        dtype = torch.bfloat16 if native else torch.float32
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **options)
            with quiet_loading():
                model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **options)
        except (OSError, ValueError) as exc:
            raise model_load_error("writer", self.model_id, "writer_model", exc) from None
        except Exception as exc:  # a GGUF file the reader cannot parse fails in its own ways
            if "gguf_file" not in options:
                raise
            raise model_load_error("writer", self.model_id, "writer_model", ValueError(f"not a GGUF file transformers can read ({exc})")) from None
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.tokenizer = tokenizer
        return model.to(self.device).eval()

    def _on_cpu(self, model: Any, int8: bool) -> tuple[list[str], int]:
        """On CPU, a thread per CPU, and the linear layers quantized to int8, or else (on the fast
        path) packed for oneDNN. The internals that could not be used, and how many layers were
        packed."""
        missing: list[str] = []
        packed = 0
        if self.device != "cpu":
            return missing, packed
        use_cpu_threads()
        if int8:
            try:
                quantize_int8(model)
                self._int8 = True
            except Unusable as exc:
                if self.quantize == "int8":  # asked for; "auto" quietly keeps the unquantized writer
                    missing.append(str(exc))
        if self.fast_path and not self._int8:
            try:
                packed = pack_linear_layers(model)
            except Unusable as exc:
                missing.append(str(exc))
        return missing, packed

    def _use_fast_path(self) -> list[str]:
        """Turn on alttext's decode attention (CPU) and decode loop where their internals are here
        and give the public forward's logits on a probe; the names of those that are not."""
        missing = []
        if self.device == "cpu":
            try:
                use_decode_attention(self._model)
            except Unusable as exc:
                missing.append(str(exc))
        self._fast = self._loop_agrees()
        if not self._fast and self._cache().separate_prefix():  # with transformers' own SDPA, perhaps
            self._model.set_attn_implementation("sdpa")
            self._fast = self._loop_agrees()
            if self._fast:
                missing.append(ATTENTION)
        if not self._fast:
            missing.append(DECODE_LOOP)
        return missing

    def _loop_agrees(self) -> bool:
        """Whether alttext's decode loop, on two short rows that share a prefix (cropped from a
        longer last prefix; the cache grows for the first token drawn), draws from the logits of
        the model's own forward over the whole left-padded rows, step after step. About as much
        work as writing two tokens."""
        import torch

        model, cache = self._model, self._cache()
        vocab = model.get_input_embeddings().num_embeddings
        ids = [(101 + 7919 * k) % vocab for k in range(10)]
        rows = [ids[:7], ids[:4] + ids[7:9]]
        steps: list[Any] = []

        def greedy(logits: Any) -> Any:
            steps.append(logits.float())
            return logits.argmax(-1)

        try:  # anything going wrong in a probe means the public path
            with torch.inference_mode():
                cache.prefix_cache(ids[:6])  # the batch's shared prefix crops it
                inputs, length, _ = cache.layout(rows, 0, 0 if cache.growable else self._room())
                drawn = self._loop(inputs, length, greedy, 2)  # the prompt, then one token, for which the cache grows
                pad = self.tokenizer.pad_token_id
                width = max(len(row) for row in rows)
                plain = torch.tensor([[pad] * (width - len(row)) + row for row in rows], device=self.device)
                mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in rows], device=self.device)
                plain = torch.cat([plain, drawn[:, :-1]], dim=1)
                mask = torch.cat([mask, mask.new_ones(len(rows), drawn.shape[1] - 1)], dim=1)
                ours = cache.separate_prefix()
                if ours:
                    model.set_attn_implementation("sdpa")
                try:
                    logits = model(input_ids=plain, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0)).logits
                finally:
                    if ours:
                        model.set_attn_implementation(DECODE_ATTENTION)
                dtype = torch.bfloat16 if self._int8 else model.get_input_embeddings().weight.dtype
                agrees = bool(steps) and not any(differs(got, logits[:, width - 1 + s], dtype) for s, got in enumerate(steps))
        except Exception:  # anything going wrong in a probe means the public path
            agrees = False
        finally:
            cache.reset()
        return agrees

    def prompt_text(self, conversation: Sequence[Mapping[str, str]]) -> str:
        self.load()
        return self.tokenizer.apply_chat_template(
            list(conversation), tokenize=False, add_generation_prompt=True, enable_thinking=False
        )

    def encode(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> Any:
        """Left-padded input ids and attention mask for a batch (no shared-prefix reuse)."""
        self.load()
        texts = [self.prompt_text(c) for c in conversations]
        return self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)

    def _cache(self) -> PromptCache:
        """The loaded writer's prompt cache."""
        self.load()
        assert self._prompt_cache is not None
        return self._prompt_cache

    def _room(self) -> int:
        """Columns to preallocate for each row's answer (``PromptCache.room``)."""
        return self._cache().room(self.max_new_tokens)

    def _prepare(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> tuple[dict[str, Any], int, Batch]:
        """Generation inputs with the shared prefix already run (``PromptCache.layout``): (inputs,
        prompt length, the batch as ``keep`` takes its rows). Rows that share less than two tokens
        are plainly left-padded, with a preallocated cache."""
        cache = self._cache()
        cache.last = None  # the last batch's cache is released first (and its prefix changes below)
        rows = [self.tokenizer(self.prompt_text(c), add_special_tokens=False)["input_ids"] for c in conversations]
        shared = shared_prefix(rows)
        if shared < 2:
            inputs = dict(self.encode(conversations))
            inputs["cache"] = cache.preallocated(None, len(rows), inputs["input_ids"].shape[1] + self._room())
            return inputs, inputs["input_ids"].shape[1], Batch(rows, inputs["attention_mask"], inputs["cache"], 0)
        instructions = list(conversations[0][:-1])  # the rules and worked examples, before the picture's own message
        start = min(shared, common(rows[0], self.tokenizer(self.prompt_text(instructions), add_special_tokens=False)["input_ids"]))
        return cache.layout(rows, start, self._room())

    def keep(self, rows: Sequence[int]) -> None:
        """Keep the cache of these rows of the last batch written, for their retry (``PromptCache.keep``)."""
        if self._prompt_cache is not None:
            self._prompt_cache.keep(rows)

    def forget(self) -> None:
        """Release the kept rows and the last batch's cache (a run's writing is done)."""
        if self._prompt_cache is not None:
            self._prompt_cache.forget()

    def write(self, conversations: Sequence[Sequence[Mapping[str, str]]], seeds: Sequence[int | None] | None = None) -> list[str]:
        """One answer per conversation, in order, generated ``batch_size`` at a time."""
        import torch

        self.load()
        seeds = list(seeds) if seeds is not None else [None] * len(conversations)
        out: list[str] = []
        for start in range(0, len(conversations), self.batch_size):
            batch = conversations[start : start + self.batch_size]
            seed = _batch_seed(seeds[start : start + self.batch_size])
            if not self._fast:
                out.extend(self._write_public(batch, seed))
                continue
            inputs, prompt_length, last = self._prepare(batch)
            torch.manual_seed(seed)
            with torch.inference_mode():
                answers = self.generate(inputs, prompt_length)
            out.extend(self.tokenizer.batch_decode(answers, skip_special_tokens=True))
            self._cache().last = last
        return out

    def _write_public(self, conversations: Sequence[Sequence[Mapping[str, str]]], seed: int) -> list[str]:
        """The public path: ``generate()`` on the left-padded batch, with a static cache where the
        model takes one, and the same sampling settings and seed (the draws differ from the fast
        path's, the distribution does not). No prefix is reused and nothing is kept."""
        import torch

        inputs = self.encode(conversations)
        length = inputs["input_ids"].shape[1]
        settings: dict[str, Any] = ({"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k}
                                    if self.temperature > 0 else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None})
        settings.update(max_new_tokens=self.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id,
                        disable_compile=True)  # every batch has its own shape: compiling each would cost more than it saves
        torch.manual_seed(seed)
        with torch.inference_mode():
            if self._static_cache:
                try:
                    out = self._model.generate(**inputs, **settings, cache_implementation="static")
                except (ValueError, TypeError, NotImplementedError):  # a model that takes no static cache
                    self._static_cache = False
                    torch.manual_seed(seed)
            if not self._static_cache:
                out = self._model.generate(**inputs, **settings)
        stop = set(self._ends())
        answers = [row[: next((k for k, t in enumerate(row) if t in stop), len(row))] for row in out[:, length:].tolist()]
        return self.tokenizer.batch_decode(answers, skip_special_tokens=True)

    def _ends(self) -> list[int]:
        ends = self._model.generation_config.eos_token_id
        return list(ends) if isinstance(ends, list) else [ends]

    def generate(self, inputs: Mapping[str, Any], prompt_length: int) -> list[list[int]]:
        """The sampled answer tokens of each row (the most likely ones at a temperature of 0), up
        to its end-of-text token.

        What ``generate()`` does with these settings, without its per-token work on the whole
        vocabulary: the nucleus is chosen within the top k tokens, so sorting and drawing look
        at k tokens, not 151,936.
        """
        if self.temperature > 0:
            tokens = self._loop(inputs, prompt_length, lambda logits: sample(logits, self.temperature, self.top_k, self.top_p))
        else:
            tokens = self._loop(inputs, prompt_length, lambda logits: logits.argmax(-1))
        stop = set(self._ends())
        return [row[: next((k for k, t in enumerate(row) if t in stop), len(row))] for row in tokens.tolist()]

    def _loop(self, inputs: Mapping[str, Any], prompt_length: int, draw: Any, steps: int | None = None) -> Any:
        """alttext's decode loop: each step runs every row's newest tokens through the model and
        ``draw``s one token per row from its logits, up to ``steps`` (``max_new_tokens``) or every
        row's end-of-text token. The tokens drawn, (rows, steps), the padding token after a row's
        end."""
        import torch

        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        rows = ids.shape[0]
        cache = inputs["cache"] if "cache" in inputs else self._cache().preallocated(None, rows, prompt_length + self._room())
        prefix = inputs.get("prefix")  # a separate prefix: the cache holds the columns after it
        shared = prefix[0][0].shape[2] if prefix is not None else 0
        extra = {"alttext_prefix": prefix} if prefix is not None else {}
        past = shared + int(cache.get_seq_length())  # the shared prefix (and kept rows' tokens), already run
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        step = ids[:, past:]
        step_positions = positions[:, past:]
        ends = torch.tensor(self._ends(), device=self.device)
        finished = torch.zeros(rows, dtype=torch.bool, device=self.device)
        tokens = []
        for _ in range(self.max_new_tokens if steps is None else steps):
            make_room(cache, step.shape[1])
            logits = self._model(input_ids=step, attention_mask=mask[:, shared:], position_ids=step_positions, cache=cache,
                                 use_cache=True, logits_to_keep=1, **extra).logits[:, -1]
            token = draw(logits).masked_fill(finished, self.tokenizer.pad_token_id)
            tokens.append(token)
            finished |= torch.isin(token, ends)
            if bool(finished.all()):
                break
            step = token[:, None]
            step_positions = step_positions[:, -1:] + 1
            mask = torch.cat([mask, mask.new_ones((rows, 1))], dim=1)
        return torch.stack(tokens, dim=1)


def nucleus(logits: Any, temperature: float, top_k: int, top_p: float) -> tuple[Any, Any]:
    """Per row, the tokens ``generate()`` may draw with temperature, top-k and top-p, and their
    probabilities (zero outside the nucleus): the most likely ``top_k`` tokens, of which the first
    ones whose probabilities sum to ``top_p`` (always the most likely one)."""
    import torch

    k = min(top_k, logits.shape[-1]) if top_k > 0 else logits.shape[-1]  # 0: no top-k, as in generate()
    values, index = torch.topk(logits.float(), k, dim=-1)
    probs = torch.softmax(values / temperature, dim=-1)
    above = probs.cumsum(-1) - probs  # the probability of the tokens ranked above each one
    return probs.masked_fill(above >= top_p, 0.0), index


def sample(logits: Any, temperature: float, top_k: int, top_p: float) -> Any:
    """One token per row, drawn from its nucleus in proportion to the probabilities."""
    import torch

    probs, index = nucleus(logits, temperature, top_k, top_p)
    return index.gather(-1, torch.multinomial(probs, 1)).squeeze(-1)
