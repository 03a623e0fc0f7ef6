"""The scale-out recipe (docs/servers.md): a site split across CI jobs with ``--shard K/N``, every
job against one OpenAI-compatible endpoint for both stages, a shared cache, and the jobs' reports
applied together."""

from __future__ import annotations

import json
import os

import pytest

from alttext.cli import main
from tests.conftest import FIXTURES, REPO
from tests.openai_server import Script, serve

MEADOW = os.path.join(FIXTURES, "site", "img", "meadow.jpg")
VISION = "qwen2.5-vl"
CAPTION = "A red bicycle leans against a white wall."


def _site(root: str, pages: int) -> None:
    from PIL import Image

    os.makedirs(os.path.join(root, "img"))
    with Image.open(MEADOW) as meadow:
        for k in range(pages):  # one picture per page, each different (the same one is captioned once)
            picture = meadow.convert("RGB")
            picture.paste((40 * k, 0, 0), (0, 0, 8, 8))
            picture.save(os.path.join(root, "img", f"p{k}.png"))
            with open(os.path.join(root, f"page{k}.md"), "wb") as f:
                f.write(f"# Page {k}\n\n![](img/p{k}.png)\n".encode())


def test_two_shards_on_one_server_then_their_reports_applied_together(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _site(str(tmp_path), 6)
    with open(".alttext.toml", "w", encoding="utf-8") as f:  # what every job's checkout holds
        f.write('concurrency = 3\ncache_dir = ".alttext-cache"\n')
    # A slow server, so that requests of one job overlap (concurrency 3).
    script = Script(image_replies=[(200, CAPTION, 0.2)], replies=[(200, CAPTION, 0.2)], models=[VISION])
    with serve(script) as url:
        common = ["--captioner-backend", "openai", "--backend", "openai", "--base-url", url, "--model", VISION, "--ocr", "off",
                  "--grounding", "off"]
        for k in (1, 2):
            assert main(["fix", ".", "--shard", f"{k}/2", "--report", f"shard{k}.json", *common]) == 1
    reports = [json.load(open(f"shard{k}.json", encoding="utf-8"))["entries"] for k in (1, 2)]
    paths = [sorted(e["path"] for e in entries) for entries in reports]
    assert paths[0] and paths[1] and not set(paths[0]) & set(paths[1])  # the jobs split the pages
    assert sorted(paths[0] + paths[1]) == [f"page{k}.md" for k in range(6)]
    # One endpoint did both stages for both jobs, several requests in flight at once.
    assert len(script.with_images()) == 6 and len(script.requests) == 12 and script.most_in_flight > 1
    # Both jobs used the one cache folder: a second run of a shard asks the server nothing.
    before = len(script.requests)
    with serve(script) as url:
        assert main(["fix", ".", "--shard", "1/2", "--report", "again.json", *common[:5], url, *common[6:]]) == 1
    assert len(script.requests) == before
    capsys.readouterr()
    # The reports together, as one last CI step does.
    assert main(["apply", "shard1.json", "shard2.json"]) == 1
    err = capsys.readouterr().err
    assert "alttext: 0 images in 6 files still lack alt text" in err
    for k in range(6):
        with open(f"page{k}.md", encoding="utf-8") as f:
            assert f.read() == f"# Page {k}\n\n![{CAPTION}](img/p{k}.png)\n"


def test_the_same_image_in_two_reports_is_written_once(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _site(str(tmp_path), 1)
    entry = {"path": "page0.md", "line": 3, "column": 1, "start": 10, "end": 26, "original": "![](img/p0.png)", "alt": "A bicycle.",
             "rule": "ALT001"}
    with open("page0.md", encoding="utf-8") as f:
        text = f.read()
    entry["start"] = text.index("![")
    entry["end"] = entry["start"] + len("![](img/p0.png)")
    for name, alt in (("a.json", "A bicycle."), ("b.json", "A bicycle."), ("c.json", "A red bicycle.")):
        with open(name, "w", encoding="utf-8") as f:
            json.dump({"schema_version": 1, "entries": [dict(entry, alt=alt)]}, f)
    assert main(["apply", "a.json", "b.json", "c.json"]) == 1
    err = capsys.readouterr().err
    assert "page0.md:3:1: skipped: c.json gives this image another alt text than an earlier report" in err
    with open("page0.md", encoding="utf-8") as f:
        assert f.read() == "# Page 0\n\n![A bicycle.](img/p0.png)\n"


def test_the_documented_merge_of_the_shards_caches_runs(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """docs/servers.md's shell lines that merge each job's cache copy, run as they are written."""
    import re
    import shutil
    import subprocess

    with open(os.path.join(REPO, "docs", "servers.md"), encoding="utf-8") as f:
        [script] = re.findall(r"<!-- runs in tests/test_scale_out.py -->\n *```sh\n(.*?) *```", f.read(), re.S)
    _site(str(tmp_path), 3)
    with serve(Script(image_replies=[(200, CAPTION, 0.0)], replies=[(200, CAPTION, 0.0)], models=[VISION])) as url:
        for k, picture in ((1, "p0"), (2, "p0"), (3, "p1"), (4, "p2")):  # shards 1 and 2 described the same picture
            shard = os.path.join(str(tmp_path), f"shard-{k}")
            os.makedirs(shard)
            shutil.copy(os.path.join(str(tmp_path), "img", f"{picture}.png"), shard)
            monkeypatch.chdir(shard)
            assert main(["describe", f"{picture}.png", "--captioner-backend", "openai", "--backend", "openai", "--base-url", url, "--model", VISION, "--ocr", "off",
                         "--grounding", "off"]) == 0
    monkeypatch.chdir(tmp_path)
    done = subprocess.run(["bash", "-euc", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    os.makedirs(".alttext-cache")
    os.replace("merged.sqlite3", os.path.join(".alttext-cache", "descriptions.sqlite3"))
    capsys.readouterr()
    assert main(["cache", "stats"]) == 0
    assert ": 3 entries for 3 images, " in capsys.readouterr().out
