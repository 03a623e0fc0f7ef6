"""Benchmark `alttext check` on a synthetic documentation site.

Builds a deterministic site (>= 2,000 Markdown and HTML files, about 12 MB) and prints files/s, MB/s
and ratios measured in this one run against:
  (a) a naive scanner written here: a full markdown-it render plus BeautifulSoup on every file;
  (b) markdownlint-cli2 with only MD045, installed with npm into a temporary prefix (skipped with a
      message when node/npm are missing or the install fails).
Findings must be identical on the Markdown both tools understand; the script exits 1 if not.

    python benchmarks/bench_check.py [--files 2100] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

WORDS = (
    "the install guide explains how each option works and which defaults apply when you run the "
    "command on a large site with many pages images tables and code samples for every platform"
).split()


def _sentence(rng: random.Random, n: int = 14) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng, rng.randint(8, 20)) for _ in range(rng.randint(3, 7)))


def _img(rng: random.Random, i: int) -> tuple[str, bool]:
    """Markdown image syntax and whether it lacks alt text."""
    name = f"img/figure-{i % 97}.png"
    form = rng.randrange(6)
    if form == 0:
        return f"![]({name})", True
    if form == 1:
        return f"![Diagram of step {i}]({name})", False
    if form == 2:
        return f'![]({name} "Figure {i}")', True
    if form == 3:
        return f"[![]({name})](https://example.com/{i})", True
    if form == 4:
        return f'<img src="{name}" width="300">', True
    return f'<img src="{name}" alt="Screenshot of panel {i}">', False


def markdown_page(rng: random.Random, n_sections: int) -> str:
    out = ["---", f"title: Page {rng.randrange(10**6)}", "sidebar_position: 3", "---", ""]
    for s in range(n_sections):
        out += [f"## Section {s}", "", _paragraph(rng), ""]
        kind = rng.randrange(9)
        img, _ = _img(rng, rng.randrange(10**4))
        if kind == 0:
            out += [f"{_sentence(rng)} {img} {_sentence(rng)}", ""]
        elif kind == 1:
            out += [f"- {_sentence(rng)}", f"- {img}", f"  {_sentence(rng)}", f"- {_sentence(rng)}", ""]
        elif kind == 2:
            out += ["| Option | Preview |", "|---|---|", f"| `--flag` | {img.replace('|', '')} |", "| `--other` | none |", ""]
        elif kind == 3:
            out += [f"> {_sentence(rng)}", f"> {img}", ""]
        elif kind == 4:
            out += ["```markdown", "![](not-an-image.png)", _sentence(rng), "```", ""]
        elif kind == 5:
            out += [f"Write `![](code-span.png)` then {_sentence(rng)}", ""]
        elif kind == 6:
            out += ["```python", *(f"print({j})  # {_sentence(rng, 6)}" for j in range(rng.randint(5, 30))), "```", ""]
        elif kind == 7:
            out += [f"1. {_sentence(rng)}", f"2. {_sentence(rng)}", ""]
        else:
            out += [f"See [the reference](https://example.com/{s}) for {_sentence(rng)}", ""]
    return "\n".join(out) + "\n"


def html_page(rng: random.Random, n_sections: int) -> str:
    body = []
    for s in range(n_sections):
        body.append(f"<h2>Section {s}</h2>\n<p>{_paragraph(rng)}</p>")
        r = rng.randrange(5)
        if r == 0:
            body.append(f'<figure><img src="img/f{s}.png"><figcaption>{_sentence(rng)}</figcaption></figure>')
        elif r == 1:
            body.append(f'<p><img src="img/f{s}.png" alt="Chart of results {s}" loading="lazy"></p>')
        elif r == 2:
            body.append(f"<pre><code>{_sentence(rng)}\n{_sentence(rng)}</code></pre>")
        elif r == 3:
            body.append(f'<ul><li>{_sentence(rng)}</li><li><a href="/x{s}"><img src="i{s}.svg" alt=""></a></li></ul>')
    nav = '<nav><a href="/"><img src="/logo.svg" alt="Home"></a></nav>'
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Docs</title>'
        "<style>body{margin:0}</style><script>window.x = 1;</script></head>\n"
        f"<body>{nav}\n<main>\n" + "\n".join(body) + "\n</main></body></html>\n"
    )


def plain_page(rng: random.Random) -> str:
    return f"# Notes {rng.randrange(10**5)}\n\n" + "\n\n".join(_paragraph(rng) for _ in range(rng.randint(2, 6))) + "\n"


def build_site(root: str, n_files: int, seed: int = 7) -> tuple[int, int]:
    rng = random.Random(seed)
    total = 0
    for i in range(n_files):
        kind = i % 10
        if kind < 5:
            rel, text = f"docs/section-{i % 40}/page-{i}.md", markdown_page(rng, rng.randint(4, 18))
        elif kind < 7:
            rel, text = f"blog/{2020 + i % 6}/post-{i}.md", plain_page(rng)
        else:
            rel, text = f"site/section-{i % 30}/page-{i}.html", html_page(rng, rng.randint(4, 18))
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = text.encode("utf-8")
        with open(path, "wb") as f:
            f.write(data)
        total += len(data)
    return n_files, total


def naive_scan(paths: list[str]) -> set[tuple[str, int]]:
    """What an alt-text script usually does: render every file and ask BeautifulSoup."""
    from bs4 import BeautifulSoup
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    found: set[tuple[str, int]] = set()
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if path.endswith(".md"):
            tokens = md.parse(text)
            html = md.renderer.render(tokens, md.options, {})
            soup = BeautifulSoup(html, "html.parser")
            missing = len([img for img in soup.find_all("img") if not (img.get("alt") or "").strip()])
            # Lines are not kept by a render; count per file (the set holds (path, index)).
            found.update((path, k) for k in range(missing))
        else:
            soup = BeautifulSoup(text, "html.parser")
            missing = [img for img in soup.find_all("img") if img.get("alt") is None]
            found.update((path, k) for k in range(len(missing)))
    return found


def _files(root: str) -> list[str]:
    out = []
    for d, _, names in os.walk(root):
        out += [os.path.join(d, n) for n in names if n.endswith((".md", ".html"))]
    return sorted(out)


def _timed(fn, repeat: int = 3):  # type: ignore[no-untyped-def]
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def _markdownlint(root: str, prefix: str) -> tuple[float, set[tuple[str, int]]] | str:
    if not shutil.which("npm") or not shutil.which("node"):
        return "node/npm not found"
    proc = subprocess.run(
        ["npm", "install", "--prefix", prefix, "--no-audit", "--no-fund", "--silent", "markdownlint-cli2"],
        capture_output=True, text=True,
    )
    binary = os.path.join(prefix, "node_modules", ".bin", "markdownlint-cli2")
    if proc.returncode != 0 or not os.path.exists(binary):
        return f"npm install markdownlint-cli2 failed: {proc.stderr.strip()[-200:]}"
    with open(os.path.join(root, ".markdownlint-cli2.jsonc"), "w") as f:
        f.write('{"config": {"default": false, "MD045": true}}\n')

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([binary, "**/*.md"], cwd=root, capture_output=True, text=True)

    seconds, proc = _timed(run)
    found = set()
    for line in (proc.stdout + proc.stderr).splitlines():
        m = re.match(r"^(.+?):(\d+)(?::\d+)? .*MD045", line)
        if m:
            found.add((os.path.normpath(os.path.join(root, m.group(1))), int(m.group(2))))
    return seconds, found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=2100)
    parser.add_argument("--keep", metavar="DIR", help="build the site here and keep it")
    parser.add_argument("--no-markdownlint", action="store_true")
    args = parser.parse_args()

    from alttext.model import Settings
    from alttext.scan.files import check_paths

    work = args.keep or tempfile.mkdtemp(prefix="alttext-bench-")
    root = os.path.join(work, "site")
    shutil.rmtree(root, ignore_errors=True)
    n, size = build_site(root, args.files)
    mb = size / 1e6
    files = _files(root)
    print(f"site: {n} files, {mb:.1f} MB ({sum(f.endswith('.md') for f in files)} Markdown, {sum(f.endswith('.html') for f in files)} HTML), {os.cpu_count()} CPUs")

    t_alt, report = _timed(lambda: check_paths([root], Settings(root=root)))
    t_one, report1 = _timed(lambda: check_paths([root], Settings(root=root, jobs=1)))
    assert report == report1
    # The CLI as installed: with bytecode caches (some sandboxes set PYTHONDONTWRITEBYTECODE, which
    # would recompile alttext on every start), after one warm-up run.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cli = [sys.executable, "-m", "alttext", "check", "-q", root]
    subprocess.run(cli, capture_output=True, env=env)
    t_cli, _ = _timed(lambda: subprocess.run(cli, capture_output=True, env=env))
    # markdownlint reads Markdown only: compare on the same files.
    md_cli = [sys.executable, "-m", "alttext", "check", "-q", "--exclude", "*.html", root]
    t_cli_md, _ = _timed(lambda: subprocess.run(md_cli, capture_output=True, env=env))
    t_naive, naive = _timed(lambda: naive_scan(files), repeat=1)

    t_version, _ = _timed(lambda: subprocess.run([sys.executable, "-m", "alttext", "--version"], capture_output=True, env=env), repeat=5)

    def row(name: str, seconds: float) -> None:
        print(f"  {name:<34} {seconds:7.3f} s  {n / seconds:8.0f} files/s  {mb / seconds:6.1f} MB/s")

    print("times (best of 3, naive 1 run):")
    row("alttext check (library, all CPUs)", t_alt)
    row("alttext check (library, 1 process)", t_one)
    row("alttext check (CLI, all CPUs)", t_cli)
    n_md = sum(f.endswith(".md") for f in files)
    print(f"  {'alttext check (CLI, Markdown only)':<34} {t_cli_md:7.3f} s  {n_md / t_cli_md:8.0f} files/s")
    row("naive markdown-it + BeautifulSoup", t_naive)
    print(f"alttext --version: {t_version * 1000:.0f} ms wall   (target < 150 ms)")
    print(f"ratio naive / alttext (library):   {t_naive / t_alt:6.1f}x   (target >= 3x)")
    print(f"ratio naive / alttext (1 process): {t_naive / t_one:6.1f}x")

    ok = True
    by_file: dict[str, int] = {}
    for f in report.findings:
        by_file[f.path] = by_file.get(f.path, 0) + 1
    # The naive scanner knows one rule: an <img> whose alt is missing or blank. alttext also
    # reports <a href><img alt=""></a> (ALT003), which that rule cannot see.
    comparable = [f for f in report.findings if not (f.rule == "ALT003" and f.element == "img" and f.alt == "")]
    if len(naive) != len(comparable):
        print(f"MISMATCH with the naive scanner: {len(naive)} vs {len(comparable)} findings")
        ok = False
    else:
        extra = len(report.findings) - len(comparable)
        print(f"findings: {len(comparable)}, same count as the naive scanner (+{extra} linked decorative images, ALT003)")

    if not args.no_markdownlint:
        result = _markdownlint(root, os.path.join(work, "npm"))
        if isinstance(result, str):
            print(f"markdownlint-cli2: skipped ({result})")
        else:
            t_ml, ml = result
            print(f"  {'markdownlint-cli2 (MD045 only)':<34} {t_ml:7.3f} s  {n_md / t_ml:8.0f} files/s")
            print(f"ratio markdownlint-cli2 / alttext (CLI, same Markdown files): {t_ml / t_cli_md:6.1f}x   (target >= 10x)")
            ours = {(os.path.normpath(f.path), f.line) for f in report.findings if f.path.endswith(".md")}
            if ours == ml:
                print(f"markdownlint-cli2 findings on Markdown: {len(ml)}, identical (file, line) sets")
            else:
                print(f"MISMATCH with markdownlint-cli2: only alttext {sorted(ours - ml)[:5]}, only markdownlint {sorted(ml - ours)[:5]}")
                ok = False
    # Engine handling: the same files read as each dialect, against CommonMark in this run.
    import dataclasses

    base = Settings(root=root)
    t_cm, _ = _timed(lambda: check_paths([root], dataclasses.replace(base, engine="commonmark")), repeat=5)
    print(f"engines (library, all CPUs, best of 5; CommonMark {t_cm:.3f} s):")
    for engine in ("gfm", "mdx", "mkdocs", "jekyll", "hugo", "auto"):
        t_e, _ = _timed(lambda: check_paths([root], dataclasses.replace(base, engine=engine)), repeat=5)
        flag = "" if t_e <= 1.2 * t_cm else "   OVER the 20% budget"
        print(f"  {engine:<8} {t_e:7.3f} s  {t_e / t_cm:5.2f}x CommonMark{flag}")
        ok = ok and not flag

    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
