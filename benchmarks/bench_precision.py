"""What the captioner's precision does to its captions, against a perturbation nobody minds.

The captions are the writer's facts, so a faster precision must not change them more than
something harmless does. With the models and pictures of ``bench_pipeline.py`` (BLIP base at full
size with random weights; its 24 distinct pictures), this captions every picture (plain and "a
picture of ..." captions, as ``describe`` asks) with BLIP in fp32, then compares with fp32:

1. ``auto``, on a CPU with native bf16: the vision encoder in bf16, the text decoder in fp32;
2. ``bf16``: all of BLIP in bf16;
3. the reference perturbation: fp32 again, on each picture saved as a JPEG of quality 95.

Printed per row: captions identical to fp32's (plain and second), the words that match fp32's at
the same place, the relative difference of the vision encoder's output (the decoder's input),
and the vision encoder's seconds. Random weights make this a hard test: their next-word scores are
close together, so a small change picks another word more often than a trained model's would.
Exit 1 if ``auto`` changes more captions than the JPEG re-save does.

    python benchmarks/bench_precision.py [--models DIR]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import bench_pipeline  # noqa: E402  (beside this file: its models and pictures)

PROMPT = "a picture of"  # describe's second caption


def jpeg(image: Any, quality: int = 95) -> Any:
    from PIL import Image

    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def captions(blip: str, precision: str, images: list[Any]) -> dict[str, Any]:
    """Both captions of every image, the vision encoder's outputs (in fp32) and its seconds."""
    import torch

    from alttext.pipeline.caption import Captioner

    captioner = Captioner(blip, device="cpu", batch_size=8, precision=precision)
    captioner.load()
    vision = captioner._model.vision_model
    outputs: list[Any] = []
    seconds = [0.0]

    def timed(module: Any, args: Any, kwargs: Any) -> None:
        seconds[0] -= time.perf_counter()

    def kept(module: Any, args: Any, kwargs: Any, output: Any) -> None:
        seconds[0] += time.perf_counter()
        outputs.append(output[0].float())

    vision.register_forward_pre_hook(timed, with_kwargs=True, prepend=True)  # before the split's cast of the pixels
    vision.register_forward_hook(kept, with_kwargs=True)  # after the split's cast of the outputs
    pairs = captioner.caption_pair(images, PROMPT)
    return {"pairs": pairs, "embeds": torch.cat(outputs), "seconds": seconds[0],
            "dtypes": (str(vision.dtype).removeprefix("torch."), str(captioner._model.text_decoder.dtype).removeprefix("torch."))}


def compare(base: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    same = [sum(a[j] == b[j] for a, b in zip(base["pairs"], other["pairs"])) for j in (0, 1)]
    words = [(x == y) for a, b in zip(base["pairs"], other["pairs"]) for x, y in zip(a[0].split(), b[0].split())]
    total = sum(len(a[0].split()) for a in base["pairs"])
    difference = float((other["embeds"] - base["embeds"]).norm() / base["embeds"].norm())
    return {"plain": same[0], "second": same[1], "words": sum(words), "of_words": total, "embeds": difference, "seconds": other["seconds"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", help="the models of bench_pipeline.py: built into this folder, or reused from it")
    return bench_pipeline.in_work_folder(run, parser.parse_args(argv))


def run(args: argparse.Namespace, work: str) -> int:
    from PIL import Image

    models = args.models or os.path.join(work, "models")
    bench_pipeline.ensure_models(models)
    folder = os.path.join(work, "images")
    os.makedirs(folder)
    paths, _ = bench_pipeline.make_images(folder)
    images = [Image.open(path).convert("RGB") for path in paths[: bench_pipeline.DISTINCT]]
    blip = os.path.join(models, "blip")
    base = captions(blip, "fp32", images)
    auto = captions(blip, "auto", images)
    rows = {
        f"auto (vision {auto['dtypes'][0]}, decoder {auto['dtypes'][1]})": compare(base, auto),
        "bf16 (all of BLIP)": compare(base, captions(blip, "bf16", images)),
        "fp32, each picture re-saved as JPEG 95": compare(base, captions(blip, "fp32", [jpeg(image) for image in images])),
    }
    n = len(images)
    print(f"{n} pictures, both captions each, compared with BLIP in fp32 (vision encoder {base['seconds']:.2f} s)")
    print(f"{'captioner':<44}{'same plain':>11}{'same second':>12}{'same words':>15}{'vision output':>14}{'vision s':>10}")
    for name, r in rows.items():
        print(f"{name:<44}{r['plain']:>8}/{n:<2}{r['second']:>9}/{n:<2}{r['words']:>9}/{r['of_words']:<5}{r['embeds']:>13.2%}{r['seconds']:>10.2f}")
    split, reference = next(iter(rows.values())), rows["fp32, each picture re-saved as JPEG 95"]
    ok = split["plain"] + split["second"] >= reference["plain"] + reference["second"]
    print(f"{'ok  ' if ok else 'MISS'} auto changes no more captions than a JPEG 95 re-save")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
