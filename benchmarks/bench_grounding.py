"""Measure the grounding guard: invented content words and key-element recall, before and after.

Each line of ``benchmarks/data/grounding.jsonl`` holds a base caption (given to the writer as the
visual facts), four other reference captions of the same picture, the key elements a correct
description mentions, and a writer ``output``. The outputs are hand-written in the manner of a
small instruct model rewriting a caption with the blind-reader editor prompt: mostly faithful,
sometimes adding colours, feelings, objects and positions (the failures issue 9 reports from a
0.5B model). No model runs here: this measures the guard, not a writer.

"Before" is the pipeline with ``grounding = "off"``, "after" with ``"strict"``, both through
``describe()`` with a scripted captioner and writer (the writer gives the same answer on retry).
The invented share counts content words supported by none of: the caption, the references, the
page context. The script prints a row per item and the totals, and exits 1 if the invented share
after the guard is over 5% or the mean KER moved by more than 0.02.

    python benchmarks/bench_grounding.py [--data FILE] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from alttext.eval.metrics import invented, key_element_recall  # noqa: E402
from alttext.model import Context, Settings  # noqa: E402
from alttext.pipeline.backends import CaptionerBase, WriterBase  # noqa: E402
from alttext.pipeline.describe import describe  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE = os.path.join(os.path.dirname(HERE), "fixtures", "site", "img", "meadow.jpg")
MAX_INVENTED, MAX_KER_CHANGE = 0.05, 0.02


class _Captioner(CaptionerBase):
    def __init__(self, caption: str) -> None:
        self.text = caption

    def caption(self, images: Sequence[Any], prompt: str | None = None) -> list[str]:
        return [self.text] * len(images)


class _Writer(WriterBase):
    def __init__(self, output: str) -> None:
        self.output = output

    def write(self, conversations: Sequence[Any], seeds: Sequence[int | None]) -> list[str]:
        return [self.output] * len(conversations)


def _run(item: dict[str, Any], mode: str) -> str:
    settings = dataclasses.replace(Settings(), backend="openai", writer_model="scripted", language=item["language"], grounding=mode)
    context = Context(**item.get("context", {}))
    [d] = describe([IMAGE], [context], settings, captioner=_Captioner(item["caption"]), writer=_Writer(item["output"]))
    return d.text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=os.path.join(HERE, "data", "grounding.jsonl"))
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    with open(args.data, encoding="utf-8") as f:
        items = [json.loads(line) for line in f if line.strip()]

    rows = []
    for item in items:
        evidence = [item["caption"], *item["references"], *item.get("context", {}).values()]
        row: dict[str, Any] = {"id": item["id"]}
        for name, mode in (("before", "off"), ("after", "strict")):
            text = _run(item, mode)
            made_up = invented(text, evidence)
            row[name] = {"text": text, "ker": key_element_recall(text, item["key_elements"]), "invented": list(made_up.words), "content": made_up.content}
        rows.append(row)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))

    def totals(name: str) -> tuple[float, float]:
        words = sum(len(r[name]["invented"]) for r in rows)
        content = sum(r[name]["content"] for r in rows)
        return words / content, sum(r[name]["ker"] for r in rows) / len(rows)

    print(f"{'item':16} {'KER before':>10} {'after':>6} {'invented before':>16} {'after':>6}")
    for r in rows:
        b, a = r["before"], r["after"]
        print(f"{r['id']:16} {b['ker']:10.2f} {a['ker']:6.2f} {len(b['invented']):>7}/{b['content']:<8} {len(a['invented']):>3}/{a['content']:<3}"
              f"  {', '.join(b['invented'][:6])}")
    (inv_b, ker_b), (inv_a, ker_a) = totals("before"), totals("after")
    print(f"\n{len(rows)} items: invented content words {inv_b:.1%} -> {inv_a:.1%}; mean KER {ker_b:.3f} -> {ker_a:.3f} ({ker_a - ker_b:+.3f})")
    ok = inv_a <= MAX_INVENTED and abs(ker_a - ker_b) <= MAX_KER_CHANGE
    print("targets (invented <= 5%, KER within 0.02):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
