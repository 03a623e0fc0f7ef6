"""Throughput of the describe pipeline: the naive loop, alttext with a cold cache, a warm cache.

The models are the real architectures at full size with random weights: BLIP base from
``BlipConfig()`` defaults and Qwen3-0.6B from ``../shared/models/qwen3-0.6b/config.json`` with its
real tokenizer, each saved in the precision its published checkpoint has (fp32 and bf16). BLIP's
tokenizer gets a vocabulary of words that Qwen3 reads as one token each, as it reads a real
caption's words, and its vision tower is drawn with std 0.02 (its config's 1e-10 would give every
picture the same caption). They are built in a child process, saved with ``save_pretrained`` and
loaded back through alttext's own loading code, so the compute is the real compute. Random
weights write nonsense, and never stop on their own: every caption runs to BLIP's 30-token limit
and every writer answer to ``--new-tokens`` (32 by default, about the length of the default
125-character alt text), in every configuration. Their nonsense also fails every check, so
alttext, unlike the naive loop, asks for a second caption and a rewrite for every image: twice
the writer's work. A real model's answers mostly pass.

The images: 32 synthetic pictures, 24 distinct and 8 byte-identical copies of some of them (a
picture used on several pages, in the same place). Compared, with the models loaded alike:

1. naive: the seed-style loop, one caption call and one writer ``generate()`` call per image, one
   at a time, no batching, no dedupe, no cache, on the models as loaded for alttext's default
   settings (on a CPU with native bf16: BLIP's vision encoder in bf16 and its text decoder in
   fp32, the writer in bf16 with alttext's attention for one new token, all with their linear
   layers packed for oneDNN; BLIP's own ``generate()`` runs on it). Its cost per image does not
   depend on which image it is, so it is timed on the first ``--naive-images`` (8 by default) to
   keep the run short. It runs twice, before and after the cold run, and counts as the mean of
   the two: the machine's speed drifts during a run, and this keeps the drift out of the ratio;
2. alttext, cold cache: ``describe()`` as ``alttext fix`` runs it (batches, dedupe, the shared
   prompt prefix run once and reused by the next batches, a preallocated cache per batch, the
   second caption (decoded with the first) and the retry where its checks ask, the retry
   starting from its first prompt's kept cache);
3. alttext, warm cache: the same call again, every description read from the cache;
4. with ``--options`` (on by default; ``--no-options`` skips them), the cold run again with each
   speed option that is off by default: the writer quantized to int8 with torchao (``quantize =
   "int8"``; skipped where torchao is not installed), and all of the captioner in bf16
   (``captioner_precision = "bf16"``);
5. with ``--public`` (on by default; ``--no-public`` skips it), the cold run again on the public
   path alone, the fallback used where a library internal of the fast path is missing
   (``fast_path=False``: BLIP's own ``generate()``, the writer's ``generate()`` on left-padded
   batches with a static cache, no packed layers, no alttext attention). Its ratio is to the same
   naive loop, so it says what the fallback costs against the default.

6. with ``--ocr`` (on by default; the ``ocr`` extra), the OCR path: the cold run again reading the
   text in every picture (``ocr = "on"``), and the drawn screenshots, charts and diagrams of
   ``fixtures/evidence`` read and classified one by one. Runs 1 to 5 read no text (``ocr =
   "off"``): the naive loop reads none, and a ratio compares the same work.

Each runs in a process of its own. Model loading is not timed in any of them. Printed: seconds
(and of them, for alttext, the captioning stage's; the rest is mostly the writer), images/s,
ratios to naive, what each run asked of the models, and each process's peak RSS (both models
loaded). Exit 1 if a target is missed: cold >= 3x naive (default settings), warm >= 100x naive,
peak RSS <= 4 GB, and with the OCR path, reading text and telling the kind take at most 1.5 s per
picture (on the benchmark's pictures and on the drawn ones).

    python benchmarks/bench_pipeline.py [--naive-images N] [--new-tokens N] [--batch-size N] [--no-options] [--no-public] [--no-ocr] [--json] [--models DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

HERE = os.path.dirname(os.path.abspath(__file__))
QWEN3 = os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared", "models", "qwen3-0.6b")
IMAGES, DISTINCT = 32, 24
TARGET_COLD, TARGET_WARM, TARGET_RSS_GB, TARGET_OCR_S = 3.0, 100.0, 4.0, 1.5
# Speed options that are off by default, each timed cold in a child process of its own.
OPTIONS = {"int8 writer": {"quantize": "int8"}, "bf16 captioner": {"captioner_precision": "bf16"}}
PUBLIC = "public path"  # the cold run with the fast path off: the fallback where an internal is missing


def build_models(folder: str) -> None:
    """Full-size BLIP base and Qwen3-0.6B with random weights, saved like downloaded ones."""
    import torch
    from transformers import AutoTokenizer, BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipProcessor, Qwen3Config, Qwen3ForCausalLM
    from transformers.models.blip.image_processing_blip import BlipImageProcessor

    torch.manual_seed(0)
    blip = os.path.join(folder, "blip")
    os.makedirs(blip)
    config = BlipConfig()
    qwen_tokenizer = AutoTokenizer.from_pretrained(QWEN3)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words += caption_words(qwen_tokenizer, config.text_config.vocab_size - len(words))
    vocab = os.path.join(blip, "vocab.txt")
    with open(vocab, "w", encoding="utf-8") as f:
        f.write("\n".join(words))
    BlipProcessor(image_processor=BlipImageProcessor(), tokenizer=BertTokenizer(vocab)).save_pretrained(blip)
    model = BlipForConditionalGeneration(config)
    # BlipVisionConfig's initializer_range is 1e-10: its random vision tower gives every picture
    # the same embedding, so every caption would be the same text, and the writer's prompts would
    # share the caption too. Drawn like the text side (std 0.02), each picture gets its own caption.
    with torch.no_grad():
        for name, param in model.vision_model.named_parameters():
            if "norm" in name:
                continue
            if name.endswith("bias"):
                param.zero_()
            else:
                param.normal_(0.0, 0.02)
    model.save_pretrained(blip)
    os.remove(vocab)

    qwen = os.path.join(folder, "qwen3")
    with open(os.path.join(QWEN3, "config.json"), encoding="utf-8") as f:
        real = {k: v for k, v in json.load(f).items() if k not in ("architectures", "torch_dtype", "transformers_version")}
    # Saved in bf16, as the published Qwen3-0.6B checkpoint is (BLIP base is published in fp32).
    Qwen3ForCausalLM(Qwen3Config(**real)).to(torch.bfloat16).save_pretrained(qwen)
    qwen_tokenizer.save_pretrained(qwen)


def caption_words(tokenizer: Any, count: int) -> list[str]:
    """A vocabulary for the random BLIP, shaped like bert-base-uncased's: lowercase English words
    that Qwen3's tokenizer reads as one token each (as it does a real caption's "dog", "couch"),
    then "##" word pieces. Made-up words like "w123" would be several writer tokens each and make
    every prompt several times longer than a real caption makes it."""
    import re

    by_id = sorted((i, token) for token, i in tokenizer.get_vocab().items())
    whole = [token[1:] for _, token in by_id if re.fullmatch("\u0120[a-z]{2,}", token)]
    pieces = ["##" + token for _, token in by_id if re.fullmatch("[a-z]{2,}", token)]
    return (whole + pieces)[:count]


def make_images(folder: str) -> tuple[list[str], list[Any]]:
    """32 image files (24 distinct pictures, 8 copies) and a page context for each."""
    from PIL import Image, ImageDraw

    from alttext.model import Context

    rng = random.Random(7)
    paths, contexts = [], []
    for k in range(DISTINCT):
        im = Image.new("RGB", (rng.randint(320, 900), rng.randint(240, 700)), tuple(rng.randrange(256) for _ in range(3)))
        draw = ImageDraw.Draw(im)
        for _ in range(12):
            x, y = rng.randrange(im.width), rng.randrange(im.height)
            box = (x, y, x + rng.randint(20, 200), y + rng.randint(20, 200))
            colour = tuple(rng.randrange(256) for _ in range(3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
        path = os.path.join(folder, f"picture-{k:02d}.png")
        im.save(path)
        paths.append(path)
        contexts.append(Context(heading=f"Section {k}", sentence=f"Post number {k} shows this picture."))
    for k in range(IMAGES - DISTINCT):  # the same picture again, under another name, same place
        source = k * 3
        copy = os.path.join(folder, f"copy-{k:02d}.png")
        with open(paths[source], "rb") as src, open(copy, "wb") as dst:
            dst.write(src.read())
        paths.append(copy)
        contexts.append(contexts[source])
    return paths, contexts


class Counting:
    """Wraps a captioner or writer to count what the pipeline asks of it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.batch_size = inner.batch_size
        self.calls = self.items = 0

    def __getattr__(self, name: str) -> Any:
        # Anything else the pipeline asks of the model (the writer's keep and forget, which let a
        # retry start from its first prompt's kept cache) goes to the model itself, so the run is
        # the one ``alttext fix`` makes.
        return getattr(self.inner, name)

    def caption(self, images: Any, prompt: str | None = None) -> list[str]:
        self.calls += 1
        self.items += len(images)
        return self.inner.caption(images, prompt=prompt)

    def caption_pair(self, images: Any, prompt: str, wanted: Any = None) -> list[tuple[str, str | None]]:
        self.calls += 1
        pairs = self.inner.caption_pair(images, prompt, wanted)
        self.items += len(images) + sum(1 for _, second in pairs if second is not None)  # one vision pass for both
        return pairs

    def write(self, conversations: Any, seeds: Any) -> list[str]:
        self.calls += 1
        self.items += len(conversations)
        return self.inner.write(conversations, seeds)


def naive(paths: list[str], contexts: list[Any], captioner: Any, writer: Any, new_tokens: int) -> float:
    """The seed-style loop: per image, one caption, one prompt, one generation. Seconds."""
    import torch
    from PIL import Image

    from alttext.pipeline.clean import clean
    from alttext.pipeline.evidence import Evidence
    from alttext.pipeline.prompt import build_messages

    started = time.perf_counter()
    for path, context in zip(paths, contexts):
        image = Image.open(path).convert("RGB")
        inputs = captioner._processor(images=image, return_tensors="pt")
        with torch.inference_mode():
            ids = captioner._model.generate(**inputs, max_new_tokens=captioner.max_new_tokens, do_sample=False, num_beams=1)
        caption = captioner._processor.decode(ids[0], skip_special_tokens=True)
        prompt = writer.tokenizer.apply_chat_template(build_messages(Evidence(captions=(caption,)), context, "en"), tokenize=False,
                                                      add_generation_prompt=True, enable_thinking=False)
        encoded = writer.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            out = writer._model.generate(**encoded, do_sample=True, temperature=0.6, top_p=0.95, top_k=20,
                                         max_new_tokens=new_tokens, pad_token_id=writer.tokenizer.pad_token_id)
        clean(writer.tokenizer.decode(out[0, encoded["input_ids"].shape[1]:], skip_special_tokens=True), "en", 188)
    return time.perf_counter() - started


def time_drawn_ocr() -> float:
    """Seconds per picture to read the text of, and classify, the drawn screenshots, charts and
    diagrams of ``fixtures/evidence``: the text-heavy case of documentation sites."""
    from alttext.pipeline.images import load_image_file
    from alttext.pipeline.evidence import gather
    from alttext.pipeline.evidence.ocr import Reader

    folder = os.path.join(os.path.dirname(HERE), "fixtures", "evidence", "images")
    names = sorted(n for n in os.listdir(folder) if n.endswith(".png"))
    reader = Reader()
    reader.load()
    started = time.perf_counter()
    for name in names:
        loaded = load_image_file(os.path.join(folder, name))
        gather(loaded, reader.read(loaded.image), [name], False)
    return (time.perf_counter() - started) / len(names)


def run_alttext(paths: list[str], contexts: list[Any], settings: Any, captioner: Any, writer: Any, cache_dir: str) -> dict[str, Any]:
    from alttext.pipeline.cache import Cache
    from alttext.pipeline.describe import describe

    cap, wri = Counting(captioner), Counting(writer)
    warnings: list[str] = []
    cache = Cache(cache_dir, warnings.append)
    started = time.perf_counter()
    results = describe(paths, contexts, settings, captioner=cap, writer=wri, cache=cache)
    seconds = time.perf_counter() - started
    cache.close()
    assert not warnings, warnings
    assert len(results) == len(paths) and not any(d.error for d in results)
    captioning = max((d.timings.get("caption_s", 0.0) for d in results), default=0.0)  # 0 when all came from the cache
    evidence = max((d.timings.get("evidence_s", 0.0) for d in results), default=0.0)  # loading, OCR and kind
    return {"seconds": seconds, "caption_s": captioning, "evidence_s": evidence, "caption_calls": cap.calls, "captions": cap.items, "writer_calls": wri.calls,
            "written": wri.items, "from_cache": sum(d.cached for d in results)}


def main(argv: list[str] | None = None) -> int:
    from alttext.model import Settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--naive-images", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=Settings().batch_size, help="alttext's batch_size (default: %(default)s, its own)")
    parser.add_argument("--options", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--public", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the public path alone, the fallback where a library internal is missing")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--models", help="keep the built models in this folder, or reuse them from it")
    parser.add_argument("--ocr", action=argparse.BooleanOptionalAction, default=True, help="also time the OCR path (the ocr extra)")
    parser.add_argument("--child", choices=["naive", "default", "ocr", PUBLIC, *OPTIONS], help=argparse.SUPPRESS)  # internal: one run's own process
    return in_work_folder(run, parser.parse_args(argv))


def in_work_folder(run: Callable[[argparse.Namespace, str], int], args: argparse.Namespace) -> int:
    """``run(args, work)`` with a temporary work folder, removed afterwards."""
    work = tempfile.mkdtemp(prefix="alttext-bench-")
    try:
        return run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ensure_models(models: str) -> None:
    """Build the models into the folder ``models`` unless they are there already."""
    if not os.path.isdir(os.path.join(models, "qwen3")):
        say("building BLIP base and Qwen3-0.6B with random weights")
        subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {HERE!r}); import bench_pipeline as b; b.build_models({models!r})"],
                       check=True, stderr=subprocess.DEVNULL)


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def run_child(args: argparse.Namespace, models: str, work: str) -> int:
    """One process: load the models as ``args.child`` needs them, run, print the rows as JSON."""
    from alttext.model import Settings
    from alttext.pipeline.caption import Captioner
    from alttext.pipeline.writer_transformers import TransformersWriter

    images = os.path.join(work, "images")
    os.makedirs(images)
    paths, contexts = make_images(images)
    # The naive loop reads no text, so the runs it is compared with read none either; the OCR path
    # is timed on its own, and its cost is what it adds to the default cold run.
    settings = dataclasses.replace(Settings(), captioner=os.path.join(models, "blip"), writer_model=os.path.join(models, "qwen3"),
                                   backend="transformers", device="cpu", batch_size=args.batch_size, ocr="on" if args.child == "ocr" else "off",
                                   **OPTIONS.get(args.child, {}))
    fast = args.child != PUBLIC
    captioner = Captioner(settings.captioner, device="cpu", batch_size=settings.batch_size, precision=settings.captioner_precision,
                          fast_path=fast)
    writer = TransformersWriter(settings.writer_model, device="cpu", batch_size=settings.batch_size,
                                max_new_tokens=args.new_tokens, quantize=settings.quantize, fast_path=fast)
    captioner.load()
    writer.load()
    rows: dict[str, dict[str, Any]] = {}
    cache_dir = os.path.join(work, "cache")
    if args.child == "naive":
        n = min(args.naive_images, len(paths))
        seconds = naive(paths[:n], contexts[:n], captioner, writer, args.new_tokens)
        rows["naive"] = {"seconds": seconds, "images": n, "caption_calls": n, "captions": n, "writer_calls": n, "written": n, "from_cache": 0}
    elif args.child == "default":
        rows["alttext cold"] = {**run_alttext(paths, contexts, settings, captioner, writer, cache_dir), "images": len(paths)}
        rows["alttext warm"] = {**run_alttext(paths, contexts, settings, captioner, writer, cache_dir), "images": len(paths)}
    elif args.child == "ocr":
        rows["alttext cold, OCR path"] = {**run_alttext(paths, contexts, settings, captioner, writer, cache_dir), "images": len(paths),
                                          "drawn_ocr_s": time_drawn_ocr()}
    else:
        rows[f"alttext cold, {args.child}"] = {**run_alttext(paths, contexts, settings, captioner, writer, cache_dir), "images": len(paths)}
    print(json.dumps({**rows, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9}))
    return 0


def run(args: argparse.Namespace, work: str) -> int:
    from alttext.pipeline.runtime import cpu_count

    models = args.models or os.path.join(work, "models")
    if args.child:
        return run_child(args, models, work)
    ensure_models(models)
    # Each run in a process of its own, started the same way: what one run leaves behind (a naive
    # loop run first made the cold run after it slower) does not count against the next, and each
    # peak RSS is that run's own.
    # The naive loop runs before and after alttext's cold run and counts as their mean: the machine
    # drifts (10-20% here) over a run, and naive and cold, timed one after the other, would carry
    # the drift into their ratio.
    options = [name for name in OPTIONS if name != "int8 writer" or importlib.util.find_spec("torchao")] if args.options else []
    if args.options and len(options) < len(OPTIONS):
        say("int8 writer skipped: it needs torchao (pip install 'alttext[int8]')")
    runs = ["naive", "default", "naive"] + (["ocr"] if args.ocr else []) + ([PUBLIC] if args.public else []) + options
    rows: dict[str, dict[str, Any]] = {}
    peaks: dict[str, float] = {}
    naive_seconds: list[float] = []
    for name in runs:
        say(f"{name} (child process)")
        child = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", name, "--models", models,
                                "--new-tokens", str(args.new_tokens), "--naive-images", str(args.naive_images), "--batch-size", str(args.batch_size)],
                               check=True, capture_output=True, text=True)
        result = json.loads(child.stdout.strip().splitlines()[-1])
        peaks[name] = max(peaks.get(name, 0.0), result.pop("peak_rss_gb"))
        if name == "naive":
            naive_seconds.append(result["naive"]["seconds"])
            result["naive"]["seconds"] = sum(naive_seconds) / len(naive_seconds)
            result["naive"]["timed"] = list(naive_seconds)
        rows.update(result)
    peak_gb = max(peaks["naive"], peaks["default"])  # both models loaded, default settings
    base = rows["naive"]["images"] / rows["naive"]["seconds"]
    for row in rows.values():
        row["images_per_s"] = row["images"] / row["seconds"]
        row["vs_naive"] = row["images_per_s"] / base
    cold, warm = rows["alttext cold"]["vs_naive"], rows["alttext warm"]["vs_naive"]
    checks = {
        f"cold >= {TARGET_COLD:g}x naive": cold >= TARGET_COLD,
        f"warm >= {TARGET_WARM:g}x naive": warm >= TARGET_WARM,
        f"peak RSS <= {TARGET_RSS_GB:g} GB": peak_gb <= TARGET_RSS_GB,
    }
    ocr = rows.get("alttext cold, OCR path")
    if ocr is not None:
        # What reading text and telling the kind add, per distinct picture: the OCR path's evidence
        # stage against the default run's (which tells the kind from the pixels alone).
        ocr["added_per_image_s"] = (ocr["evidence_s"] - rows["alttext cold"]["evidence_s"]) / DISTINCT
        ocr["evidence_per_image_s"] = ocr["evidence_s"] / DISTINCT
        # And the whole run's difference: reading text also changes what the writer is given.
        ocr["run_added_per_image_s"] = (ocr["seconds"] - rows["alttext cold"]["seconds"]) / DISTINCT
        worst = max(ocr["evidence_per_image_s"], ocr["run_added_per_image_s"], ocr["drawn_ocr_s"])
        checks[f"OCR and kind add <= {TARGET_OCR_S:g} s per image"] = worst <= TARGET_OCR_S
    if args.json:
        print(json.dumps({"rows": rows, "peak_rss_gb": peaks, "checks": checks,
                          "cpus": cpu_count(), "new_tokens": args.new_tokens, "batch_size": args.batch_size}, indent=2))
    else:
        print(f"{IMAGES} images ({DISTINCT} distinct), {cpu_count()} CPUs, {args.new_tokens} new tokens per generation, batches of {args.batch_size}")
        print(f"{'run':<34}{'images':>7}{'seconds':>9}{'captioning':>11}{'images/s':>10}{'vs naive':>10}"
              "   captions (calls)   written (calls)   cached")
        for name, r in rows.items():
            captioning = f"{r['caption_s']:.2f}" if "caption_s" in r else "-"
            print(f"{name:<34}{r['images']:>7}{r['seconds']:>9.2f}{captioning:>11}{r['images_per_s']:>10.3f}{r['vs_naive']:>9.1f}x"
                  f"   {r['captions']:>8} ({r['caption_calls']:>3})   {r['written']:>7} ({r['writer_calls']:>3})   {r['from_cache']:>6}")
        if ocr is not None:
            print(f"OCR path: the evidence stage took {ocr['evidence_per_image_s']:.2f} s per distinct picture "
                  f"({ocr['added_per_image_s']:+.2f} s against the default run, which tells the kind without reading text), "
                  f"the whole run {ocr['run_added_per_image_s']:+.2f} s per distinct picture; "
                  f"reading and classifying the {len(os.listdir(os.path.join(os.path.dirname(HERE), 'fixtures', 'evidence', 'images')))} "
                  f"drawn screenshots, charts and diagrams of fixtures/evidence took {ocr['drawn_ocr_s']:.2f} s each")
        public = rows.get(f"alttext cold, {PUBLIC}")
        if public is not None:
            print(f"public path alone (the fallback where a library internal is missing): {public['vs_naive']:.2f}x naive, "
                  f"against {cold:.2f}x with the fast path ({public['seconds'] / rows['alttext cold']['seconds']:.2f}x its time)")
        print("naive loop, before and after the cold run: " + ", ".join(f"{t:.2f} s" for t in rows["naive"]["timed"]) + " (their mean above)")
        print("peak RSS, both models loaded: " + ", ".join(f"{gb:.2f} GB ({name})" for name, gb in peaks.items()))
        for name, ok in checks.items():
            print(f"{'ok  ' if ok else 'MISS'} {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
