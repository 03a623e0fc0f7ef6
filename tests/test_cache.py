"""The description cache: keys, hits, concurrent writers, a corrupt, locked or unusable cache, the
cache command, and the warm path that loads no model and imports no torch."""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from alttext.fixing import commands
from alttext.cli import main
from alttext.config import load_settings
from alttext.model import Context, Settings
from alttext.pipeline import cache as caching
from alttext.pipeline.describe import describe
from tests.conftest import FIXTURES, REPO
from tests.fixing import EchoWriter, FixedCaptioner
from tests.helpers import without_blocking

MEADOW = os.path.join(FIXTURES, "site", "img", "meadow.jpg")
BASE = dataclasses.replace(Settings(), backend="openai", writer_model="echo", length=30)


def _key(settings: Settings = BASE, language: str = "en", context: Context = Context()) -> str:
    return caching.fingerprint(settings, language, context.items())


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"captioner": "other/blip"}, id="captioner"),
        pytest.param({"backend": "transformers"}, id="backend"),
        pytest.param({"writer_model": "Qwen/Qwen3-1.7B"}, id="writer-model"),
        pytest.param({"length": 80}, id="length"),
        pytest.param({"grounding": "lenient"}, id="grounding"),
        pytest.param({"captioner_precision": "bf16"}, id="captioner-precision"),
        pytest.param({"captioner": "none"}, id="no-captioner"),
        pytest.param({"ocr": "off"}, id="ocr"),
        pytest.param({"language_fallback": True}, id="language-fallback"),
    ],
)
def test_any_setting_that_changes_the_text_misses(change: dict[str, Any]) -> None:
    assert _key(dataclasses.replace(BASE, **change)) != _key()


def test_language_context_prompt_and_quantization_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _key(language="zh") != _key()
    assert _key(context=Context(sentence="Our cat.")) != _key()
    transformers = dataclasses.replace(BASE, backend="transformers")
    assert _key(dataclasses.replace(transformers, quantize="int8")) != _key(dataclasses.replace(transformers, quantize="none"))
    # "auto" is named by what it comes to here: where that is none, a cache made before "auto"
    # became the default is still used.
    for choice in ("none", "int8"):
        monkeypatch.setattr("alttext.pipeline.writer_transformers.quantization", lambda setting, device="cpu", choice=choice: choice)
        assert _key(dataclasses.replace(transformers, quantize="auto")) == _key(dataclasses.replace(transformers, quantize=choice))
    monkeypatch.undo()
    before = _key()
    monkeypatch.setattr("alttext.pipeline.prompt.PROMPT_VERSION", "blind-reader-editor/99")
    assert _key() != before
    # The evidence sources' versions, and the OCR engine's, are part of the key.
    for name in ("alttext.pipeline.evidence.VERSION", "alttext.pipeline.evidence.kind.VERSION", "alttext.pipeline.evidence.metadata.VERSION"):
        before = _key()
        monkeypatch.setattr(name, "changed/2")
        assert _key() != before
    before = _key()
    monkeypatch.setattr("alttext.pipeline.evidence.ocr.engine_version", lambda: "rapidocr-onnxruntime 9.9")
    assert _key() != before


def test_same_inputs_hit_and_what_does_not_change_the_text_does_not_miss() -> None:
    assert _key() == _key()
    # Speed and transport settings do not change what is written.
    same = dataclasses.replace(BASE, batch_size=2, concurrency=16, timeout=5.0, device="cpu", cache_dir="elsewhere")
    assert _key(same) == _key()
    # Without a writer, its model does not matter.
    none = dataclasses.replace(BASE, backend="none")
    assert _key(dataclasses.replace(none, writer_model="x")) == _key(none)


def _describe(paths: list[str], folder: str, captioner: FixedCaptioner, writer: EchoWriter, settings: Settings = BASE,
              contexts: list[Context] | None = None) -> tuple[list[Any], list[str]]:
    warnings: list[str] = []
    cache = caching.Cache(folder, warnings.append)
    try:
        return describe(paths, contexts, settings, captioner=captioner, writer=writer, cache=cache), warnings
    finally:
        cache.close()


def test_second_run_is_served_from_the_cache(tmp_path: os.PathLike[str]) -> None:
    folder = os.path.join(str(tmp_path), ".alttext-cache")
    first_captioner, first_writer = FixedCaptioner(), EchoWriter()
    [cold], warnings = _describe([MEADOW], folder, first_captioner, first_writer)
    assert warnings == [] and first_captioner.images == 1 and first_writer.calls == [1] and not cold.cached

    captioner, writer = FixedCaptioner(), EchoWriter()
    copy = os.path.join(str(tmp_path), "renamed.jpg")
    shutil.copy(MEADOW, copy)  # the key is the content, not the name
    [warm], warnings = _describe([copy], folder, captioner, writer)
    assert warnings == [] and captioner.images == 0 and writer.calls == []
    assert warm.cached and warm.image == copy
    assert dataclasses.replace(warm, image=MEADOW, cached=False, timings={}) == dataclasses.replace(cold, timings={})
    # The folder keeps itself out of version control.
    with open(os.path.join(folder, ".gitignore"), encoding="utf-8") as f:
        assert f.read().splitlines()[-1] == "*"


def test_a_changed_setting_or_image_is_described_again(tmp_path: os.PathLike[str]) -> None:
    folder = os.path.join(str(tmp_path), "c")
    _describe([MEADOW], folder, FixedCaptioner(), EchoWriter())
    captioner, writer = FixedCaptioner(), EchoWriter()
    _describe([MEADOW], folder, captioner, writer, settings=dataclasses.replace(BASE, grounding="lenient"))
    assert (captioner.images, writer.calls) == (1, [1])
    changed = os.path.join(str(tmp_path), "meadow.jpg")
    with open(MEADOW, "rb") as src, open(changed, "wb") as dst:
        dst.write(src.read() + b"\0")  # one more byte: another image as far as the cache knows
    captioner, writer = FixedCaptioner(), EchoWriter()
    _describe([changed], folder, captioner, writer)
    assert (captioner.images, writer.calls) == (1, [1])


def test_failures_are_not_cached(tmp_path: os.PathLike[str]) -> None:
    broken = os.path.join(str(tmp_path), "broken.png")
    with open(broken, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\nnot really")
    folder = os.path.join(str(tmp_path), "c")
    [d], _ = _describe([broken], folder, FixedCaptioner(), EchoWriter())
    assert d.error
    assert caching.Cache(folder, print).stats().entries == 0


def test_one_image_on_fifty_pages_is_captioned_once(tmp_path: os.PathLike[str]) -> None:
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "img"))
    shutil.copy(MEADOW, os.path.join(root, "img", "cat.jpg"))
    for n in range(50):
        with open(os.path.join(root, f"p{n:02d}.md"), "w", encoding="utf-8") as f:
            f.write("# Pets\n\nOur cat.\n\n![](img/cat.jpg)\n")
    settings = dataclasses.replace(load_settings({}, cwd=root), backend="openai", writer_model="echo", length=30)
    captioner, writer = FixedCaptioner(), EchoWriter()
    old = os.getcwd()
    os.chdir(root)
    try:
        rc = commands.fix(["."], settings, commands.Mode(), out=io.StringIO(), err=io.StringIO(), captioner=captioner, writer=writer)
    finally:
        os.chdir(old)
    # Fifty files rewritten; one caption, and one writer call for the one (image, context) pair.
    assert rc == 1 and captioner.images == 1 and writer.calls == [1]


_WRITER = textwrap.dedent(
    """
    import sys
    from alttext.pipeline.cache import Cache
    failures = []
    cache = Cache(sys.argv[1], failures.append)
    for n in range(60):
        cache.put({(f"{sys.argv[2]}-{n:02d}", "fp"): {"text": f"entry {n}"}})
        assert cache.get([(f"{sys.argv[2]}-{n:02d}", "fp")]), "a fresh entry did not read back"
    cache.close()
    print("\\n".join(failures))
    """
)


def test_concurrent_writers_all_land(tmp_path: os.PathLike[str]) -> None:
    folder = os.path.join(str(tmp_path), "c")
    caching.Cache(folder, print).put({("seed", "fp"): {"text": "x"}})  # created before the race
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, folder, f"w{k}"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for k in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outputs
    assert [out.strip() for out, _ in outputs] == [""] * 4  # no process fell back to running without it
    stats = caching.Cache(folder, print).stats()
    assert (stats.entries, stats.images) == (241, 241)


def test_corrupt_cache_is_reported_moved_aside_and_rebuilt(tmp_path: os.PathLike[str]) -> None:
    folder = os.path.join(str(tmp_path), "c")
    os.makedirs(folder)
    path = os.path.join(folder, caching.FILE_NAME)
    with open(path, "wb") as f:
        f.write(b"this is not a database, it is a text file that got in the way" * 100)
    [d], warnings = _describe([MEADOW], folder, FixedCaptioner(), EchoWriter())
    assert d.text and not d.error
    [aside] = [n for n in os.listdir(folder) if ".corrupt-" in n]
    assert warnings == [
        f"alttext: warning: cache {path} was corrupt (file is not a database); moved it to {os.path.join(folder, aside)} and started a new one"
    ]
    captioner = FixedCaptioner()
    [again], warnings = _describe([MEADOW], folder, captioner, EchoWriter())
    assert warnings == [] and again.cached and captioner.images == 0


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_not_waited_on(tmp_path: os.PathLike[str]) -> None:
    # describe hashes the file for the cache key before loading it: neither may wait for a writer.
    fifo = os.path.join(str(tmp_path), "pipe.jpg")
    os.mkfifo(fifo)
    assert without_blocking(fifo, lambda: caching.file_sha256(fifo)) is None
    [d], warnings = without_blocking(fifo, lambda: _describe([fifo], os.path.join(str(tmp_path), "c"), FixedCaptioner(), EchoWriter()))
    assert d.error == f"{fifo}: not a regular file (a FIFO); not read" and warnings == []


@pytest.mark.parametrize(
    "value",
    [
        pytest.param('{"text": 5}', id="text-number"),
        pytest.param('{"text": {"en": "A dog."}}', id="text-object"),
        pytest.param('{"text": null}', id="text-null"),
        pytest.param('["A dog."]', id="array"),
        pytest.param('"A dog."', id="string"),
        pytest.param("null", id="null"),
        pytest.param("{not json", id="not-json"),
    ],
)
def test_a_bad_entry_is_dropped_and_the_image_described_again(tmp_path: os.PathLike[str], value: str) -> None:
    folder = os.path.join(str(tmp_path), "c")
    _describe([MEADOW], folder, FixedCaptioner(), EchoWriter())
    db = sqlite3.connect(os.path.join(folder, caching.FILE_NAME), isolation_level=None)
    try:
        db.execute("UPDATE descriptions SET value = ?", (value,))
    finally:
        db.close()
    captioner = FixedCaptioner()
    [d], warnings = _describe([MEADOW], folder, captioner, EchoWriter())
    assert d.text == "A dog running on the grass." and not d.cached and captioner.images == 1 and warnings == []
    # The new description took the bad entry's place.
    captioner = FixedCaptioner()
    [again], _ = _describe([MEADOW], folder, captioner, EchoWriter())
    assert again.cached and again.text == d.text and captioner.images == 0


def test_locked_cache_is_bypassed(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    folder = os.path.join(str(tmp_path), "c")
    first = caching.Cache(folder, print)
    first.put({("x", "y"): {"text": "t"}})
    first.close()
    holder = sqlite3.connect(os.path.join(folder, caching.FILE_NAME), isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(caching, "BUSY_TIMEOUT_S", 0.2)
    try:
        captioner = FixedCaptioner()
        [d], warnings = _describe([MEADOW], folder, captioner, EchoWriter())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert d.text and captioner.images == 1
    assert warnings == [f"alttext: warning: cache {os.path.join(folder, caching.FILE_NAME)} is locked by another process; running without it"]


@pytest.fixture
def cannot_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every cache file opens read-only, as SQLite opens one it may not write (tests run as root,
    whom chmod does not stop): writing then fails with "attempt to write a readonly database"."""
    connect = sqlite3.connect

    def read_only(database: str, *args: Any, **kw: Any) -> sqlite3.Connection:
        if not kw.get("uri"):
            database, kw["uri"] = f"file:{database}?mode=ro", True
        return connect(database, *args, **kw)

    monkeypatch.setattr(sqlite3, "connect", read_only)


def _filled(folder: str, journal: str = "wal") -> str:
    """A healthy cache holding the meadow's description (in ``journal`` mode); its path."""
    _describe([MEADOW], folder, FixedCaptioner(), EchoWriter())
    path = os.path.join(folder, caching.FILE_NAME)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(f"PRAGMA journal_mode={journal}")
    db.close()
    return path


@pytest.mark.parametrize("journal", ["wal", "delete"])  # delete: an older cache, or a copy a tool made
def test_read_only_cache_is_read_not_moved_aside(tmp_path: os.PathLike[str], journal: str, request: pytest.FixtureRequest) -> None:
    folder = os.path.join(str(tmp_path), "c")
    path = _filled(folder, journal)
    request.getfixturevalue("cannot_write")
    other = os.path.join(str(tmp_path), "other.jpg")
    with open(MEADOW, "rb") as src, open(other, "wb") as dst:
        dst.write(src.read() + b"\0")  # another picture: a miss
    captioner = FixedCaptioner()
    [hit, miss], warnings = _describe([MEADOW, other], folder, captioner, EchoWriter())
    assert hit.cached and not miss.cached and miss.text and captioner.images == 1
    assert warnings == [
        f"alttext: warning: cache {path} is read-only (attempt to write a readonly database); using what it holds without saving new descriptions"
    ]
    assert sorted(n for n in os.listdir(folder) if ".corrupt-" in n) == []


_READ_ONLY_PROBE = textwrap.dedent(
    """
    import sys
    from alttext.pipeline.cache import Cache
    cache = Cache(sys.argv[1], print)
    print(sorted(cache.get([("x", "fp")]).values(), key=str))
    cache.put({("y", "fp"): {"text": "new"}})
    print(cache.get([("y", "fp")]))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="permissions as Linux has them")
def test_cache_in_a_read_only_folder_is_read(tmp_path: os.PathLike[str]) -> None:
    # For real: a folder no one may write (0555), so SQLite cannot even make its WAL index there.
    folder = os.path.join(str(tmp_path), "c")
    cache = caching.Cache(folder, print)
    cache.put({("x", "fp"): {"text": "kept"}})
    cache.close()
    run = [sys.executable, "-c", _READ_ONLY_PROBE, folder]
    if os.geteuid() == 0:  # root passes permission checks: run it without that power
        drop = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--inh-caps", "-dac_override,-dac_read_search,-fowner"]
        if shutil.which("setpriv") is None or subprocess.run([*drop, "true"], capture_output=True).returncode != 0:
            pytest.skip("root here cannot give up its permission override")
        run = drop + run
    os.chmod(folder, 0o555)
    try:
        done = subprocess.run(run, cwd=REPO, capture_output=True, text=True, timeout=60)
    finally:
        os.chmod(folder, 0o755)
    path = os.path.join(folder, caching.FILE_NAME)
    assert done.stdout.splitlines() == [
        f"alttext: warning: cache {path} is read-only (attempt to write a readonly database); using what it holds without saving new descriptions",
        "[{'text': 'kept'}]",
        "{}",
    ], done.stderr
    assert sorted(os.listdir(folder)) == [".gitignore", caching.FILE_NAME]


def test_unusable_cache_folder_is_bypassed(tmp_path: os.PathLike[str]) -> None:
    blocker = os.path.join(str(tmp_path), "file")
    with open(blocker, "w", encoding="utf-8") as f:
        f.write("a file where the cache folder should be")
    [d], warnings = _describe([MEADOW], os.path.join(blocker, "cache"), FixedCaptioner(), EchoWriter())
    assert d.text
    [warning] = warnings
    assert warning.startswith(f"alttext: warning: cache {os.path.join(blocker, 'cache', caching.FILE_NAME)} cannot be used (")
    assert warning.endswith("); running without it")


def _site(root: str) -> str:
    os.makedirs(os.path.join(root, "img"))
    shutil.copy(MEADOW, os.path.join(root, "img", "cat.jpg"))
    with open(os.path.join(root, ".alttext.toml"), "w", encoding="utf-8") as f:
        f.write('backend = "openai"\nwriter_model = "echo"\nlength = 30\n')
    with open(os.path.join(root, "post.md"), "w", encoding="utf-8") as f:
        f.write("Our cat.\n\n![](img/cat.jpg)\n")
    return root


def _warm(root: str) -> None:
    """Fill the site's cache in process, as a first run would."""
    settings = load_settings({}, cwd=root)
    old = os.getcwd()
    os.chdir(root)
    try:
        rc = commands.fix(["post.md"], settings, commands.Mode(dry_run=True), out=io.StringIO(), err=io.StringIO(),
                          captioner=FixedCaptioner(), writer=EchoWriter())
    finally:
        os.chdir(old)
    assert rc == 1


_PROBE = textwrap.dedent(
    """
    import sys
    from alttext.cli import main
    rc = main(sys.argv[1:])
    heavy = sorted(m for m in ("torch", "transformers", "openai") if m in sys.modules)
    print("heavy:", ",".join(heavy), "rc:", rc, file=sys.stderr)
    """
)


def test_warm_run_loads_no_model_and_imports_no_torch(tmp_path: os.PathLike[str]) -> None:
    root = _site(str(tmp_path))
    _warm(root)
    env = {**os.environ, "PYTHONPATH": REPO, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", _PROBE, "fix", "post.md"], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert done.stderr.splitlines()[-1] == "heavy:  rc: 1", done.stderr
    assert done.stdout == 'post.md:3:1: alt text added for img/cat.jpg: "A dog running on the grass."\n'
    with open(os.path.join(root, "post.md"), encoding="utf-8") as f:
        assert f.read() == "Our cat.\n\n![A dog running on the grass.](img/cat.jpg)\n"
    # And the same run without the cache does need the models (here: the echo server is absent).
    os.remove(os.path.join(root, "post.md"))
    with open(os.path.join(root, "post.md"), "w", encoding="utf-8") as f:
        f.write("Our cat.\n\n![](img/cat.jpg)\n")
    done = subprocess.run([sys.executable, "-c", _PROBE, "fix", "post.md", "--no-cache", "--base-url", "http://127.0.0.1:9"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert "rc: 2" in done.stderr.splitlines()[-1]


def test_cache_command_stats_and_clear(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    root = _site(str(tmp_path))
    monkeypatch.chdir(root)
    folder = os.path.join(root, ".alttext-cache")
    assert main(["cache", "stats"]) == 0
    assert capsys.readouterr().out == f"{folder}/{caching.FILE_NAME}: no cache\n"
    _warm(root)
    assert main(["cache", "stats"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{folder}/{caching.FILE_NAME}: 1 entry for 1 image, ") and out.endswith(" kB\n")
    assert main(["cache", "clear"]) == 0
    assert capsys.readouterr().err == f"alttext: cleared {folder} (1 entry)\n"
    assert sorted(os.listdir(folder)) == [".gitignore"]
    assert main(["cache", "clear"]) == 0
    assert capsys.readouterr().err == f"alttext: cleared {folder} (0 entries)\n"


def test_cache_dir_and_no_cache_settings(tmp_path: os.PathLike[str]) -> None:
    root = _site(str(tmp_path))
    with open(os.path.join(root, ".alttext.toml"), "a", encoding="utf-8") as f:
        f.write('cache_dir = "build/alt-cache"\n')
    _warm(root)
    assert os.path.isfile(os.path.join(root, "build", "alt-cache", caching.FILE_NAME))
    assert not os.path.exists(os.path.join(root, ".alttext-cache"))
    assert load_settings({"cache": False}, cwd=root).cache is False
    assert caching.open_cache(load_settings({"cache": False}, cwd=root), print) is None


def test_same_bytes_under_two_names_are_captioned_and_written_once(tmp_path: os.PathLike[str]) -> None:
    copy = os.path.join(str(tmp_path), "copy.jpg")
    shutil.copy(MEADOW, copy)
    captioner, writer = FixedCaptioner(), EchoWriter()
    a, b = describe([MEADOW, copy], None, BASE, captioner=captioner, writer=writer)
    assert captioner.images == 1 and writer.calls == [1]
    assert (a.image, b.image) == (MEADOW, copy) and a.text == b.text
