"""``alttext watch`` on a real folder with real watchdog events and a short debounce."""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from alttext.config import load_settings
from alttext.fixing.watch import Watcher
from tests.conftest import FIXTURES
from tests.fixing import EchoWriter, FixedCaptioner

MEADOW = os.path.join(FIXTURES, "site", "img", "meadow.jpg")
DEBOUNCE = 0.2
ALT = "A dog running on the grass."


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def settle() -> None:
    """Long enough for any event still on its way to have been acted on."""
    time.sleep(DEBOUNCE * 6)


class ColourCaptioner(FixedCaptioner):
    """Captions an image by its colour, so a replaced image gets another description."""

    def caption(self, images: Sequence[Any], prompt: str | None = None) -> list[str]:
        self.images += len(images) if prompt is None else 0
        names = {(255, 0, 0): "a red square", (0, 0, 255): "a blue square"}
        return [names.get(im.convert("RGB").getpixel((20, 20)), "a square") for im in images]


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _square(path: str, colour: tuple[int, int, int]) -> None:
    from PIL import Image

    # A square on white: a picture of one flat colour alone would be a decorative candidate.
    image = Image.new("RGB", (40, 40), (255, 255, 255))
    image.paste(colour, (8, 8, 32, 32))
    image.save(path)


@pytest.fixture
def site(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> str:
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "img"))
    shutil.copy(MEADOW, os.path.join(root, "img", "cat.jpg"))
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def start(site: str) -> Iterator[Callable[..., Watcher]]:
    started: list[tuple[Watcher, threading.Thread]] = []

    def run(writer: Any = None, captioner: Any = None, report: bool = False) -> Watcher:
        settings = dataclasses.replace(load_settings({}, cwd=site), backend="openai", writer_model="echo", length=30)
        watcher = Watcher(["."], settings, report=report, debounce=DEBOUNCE, out=io.StringIO(), err=io.StringIO(),
                          captioner=captioner or FixedCaptioner(), writer=writer or EchoWriter())
        thread = threading.Thread(target=watcher.run, daemon=True)
        thread.start()
        wait_for(lambda: "watching" in watcher.err.getvalue())  # type: ignore[attr-defined]
        time.sleep(0.1)  # the observer is scheduled before the line is printed; let it settle
        started.append((watcher, thread))
        return watcher

    yield run
    for watcher, thread in started:
        watcher.stop()
        thread.join(timeout=10)
        assert not thread.is_alive()


def out(watcher: Watcher) -> list[str]:
    return watcher.out.getvalue().splitlines()  # type: ignore[attr-defined]


def test_new_image_gets_alt_once_and_same_content_again_does_nothing(site: str, start: Callable[..., Watcher]) -> None:
    watcher = start()
    _write("post.md", b"# Pets\n\nOur cat.\n\n![](img/cat.jpg)\n")
    wait_for(lambda: watcher.write_count == 1)
    settle()
    assert _read("post.md") == f"# Pets\n\nOur cat.\n\n![{ALT}](img/cat.jpg)\n".encode()
    assert out(watcher) == [f'post.md:5:1: alt text added for img/cat.jpg: "{ALT}"']
    # Its own write caused events too: none led to another write.
    assert watcher.write_count == 1
    _write("post.md", _read("post.md"))  # saved again, unchanged
    settle()
    assert watcher.write_count == 1 and len(out(watcher)) == 1


def test_editor_atomic_save_is_handled_once(site: str, start: Callable[..., Watcher]) -> None:
    watcher = start()
    _write(".post.md.swp", b"vim swap")
    _write("post.md.tmp~", b"![](img/cat.jpg)\n")
    os.replace("post.md.tmp~", "post.md")
    os.remove(".post.md.swp")
    wait_for(lambda: watcher.write_count == 1)
    settle()
    assert watcher.write_count == 1 and len(out(watcher)) == 1
    assert _read("post.md") == f"![{ALT}](img/cat.jpg)\n".encode()


def test_file_changed_between_read_and_write_is_not_overwritten(site: str, start: Callable[..., Watcher]) -> None:
    class Typist(EchoWriter):
        def write(self, conversations: Any, seeds: Any) -> list[str]:
            if not self.calls:  # the person keeps typing while the first description is written
                _write("post.md", b"Someone typed this.\n![](img/cat.jpg)\n")
            return super().write(conversations, seeds)

    watcher = start(writer=Typist())
    _write("post.md", b"![](img/cat.jpg)\n")
    wait_for(lambda: watcher.write_count == 1)
    settle()
    assert "post.md: changed while its images were described; not written (it is read again after this save)" in watcher.err.getvalue()  # type: ignore[attr-defined]
    # The person's text is kept; their save was handled on its own.
    assert _read("post.md") == f"Someone typed this.\n![{ALT}](img/cat.jpg)\n".encode()
    assert watcher.write_count == 1


def test_report_mode_changes_nothing(site: str, start: Callable[..., Watcher]) -> None:
    watcher = start(report=True)
    _write("post.md", b"![](img/cat.jpg)\n")
    wait_for(lambda: len(out(watcher)) == 1)
    settle()
    assert out(watcher) == [f'post.md:1:1: proposed alt text for img/cat.jpg: "{ALT}"']
    assert _read("post.md") == b"![](img/cat.jpg)\n" and watcher.write_count == 0


def test_replaced_image_refreshes_only_alt_text_alttext_wrote(site: str, start: Callable[..., Watcher]) -> None:
    _square(os.path.join("img", "sq.png"), (255, 0, 0))
    _write("human.md", b"![My own words.](img/sq.png)\n")
    watcher = start(captioner=ColourCaptioner())
    _write("a.md", b"![](img/sq.png)\n\n<img src=\"img/sq.png\">\n")
    wait_for(lambda: watcher.write_count == 1)
    assert _read("a.md") == b'![A red square.](img/sq.png)\n\n<img src="img/sq.png" alt="A red square.">\n'

    _square(os.path.join("img", "sq.png"), (0, 0, 255))  # the picture is replaced
    wait_for(lambda: watcher.write_count == 2)
    settle()
    assert _read("a.md") == b'![A blue square.](img/sq.png)\n\n<img src="img/sq.png" alt="A blue square.">\n'
    assert _read("human.md") == b"![My own words.](img/sq.png)\n"
    assert [line for line in out(watcher) if "needs review" not in line][-2:] == [
        'a.md:1:1: alt text refreshed for img/sq.png (the image changed): "A blue square."',
        'a.md:3:1: alt text refreshed for img/sq.png (the image changed): "A blue square."',
    ]

    # Someone edits one of them: that one is theirs now, and stays.
    _write("a.md", b'![A blue box on white.](img/sq.png)\n\n<img src="img/sq.png" alt="A blue square.">\n')
    settle()
    _square(os.path.join("img", "sq.png"), (255, 0, 0))
    wait_for(lambda: watcher.write_count == 3)
    settle()
    assert _read("a.md") == b'![A blue box on white.](img/sq.png)\n\n<img src="img/sq.png" alt="A red square.">\n'
    assert _read("human.md") == b"![My own words.](img/sq.png)\n"


def test_a_refresh_on_a_cr_only_page_names_the_lines_check_names(site: str, start: Callable[..., Watcher]) -> None:
    # Old Mac line endings: every CR ends a line, for check and for watch alike.
    _square(os.path.join("img", "sq.png"), (255, 0, 0))
    watcher = start(captioner=ColourCaptioner())
    _write("cr.md", b"# Squares\r\rOne:\r\r![](img/sq.png)\r")
    wait_for(lambda: watcher.write_count == 1)
    assert [line for line in out(watcher) if "needs review" not in line][-1] == 'cr.md:5:1: alt text added for img/sq.png: "A red square."'
    _square(os.path.join("img", "sq.png"), (0, 0, 255))
    wait_for(lambda: watcher.write_count == 2)
    settle()
    assert _read("cr.md") == b"# Squares\r\rOne:\r\r![A blue square.](img/sq.png)\r"
    assert [line for line in out(watcher) if "needs review" not in line][-1] == (
        'cr.md:5:1: alt text refreshed for img/sq.png (the image changed): "A blue square."')


def test_broken_image_is_reported_and_watching_goes_on(site: str, start: Callable[..., Watcher]) -> None:
    _write(os.path.join("img", "broken.png"), b"\x89PNG\r\n\x1a\nnot really a png")
    watcher = start()
    _write("bad.md", b"![](img/broken.png)\n")
    wait_for(lambda: len(out(watcher)) == 1)
    [line] = out(watcher)
    assert line.startswith('bad.md:1:1: ALT001 image "img/broken.png" has no alt text (not fixed: image not described: ')
    _write("good.md", b"![](img/cat.jpg)\n")
    wait_for(lambda: watcher.write_count == 1)
    assert _read("good.md") == f"![{ALT}](img/cat.jpg)\n".encode()
    assert _read("bad.md") == b"![](img/broken.png)\n"


def test_files_outside_the_rules_are_ignored(site: str, start: Callable[..., Watcher]) -> None:
    os.makedirs("node_modules")
    os.makedirs(".git")
    watcher = start()
    for name in ("notes.txt", "node_modules/a.md", ".git/a.md", "post.md.orig"):
        _write(name, b"![](img/cat.jpg)\n")
    settle()
    assert watcher.write_count == 0 and out(watcher) == []


def test_ctrl_c_exits_130(site: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings({}, cwd=site)
    watcher = Watcher(["."], settings, debounce=DEBOUNCE, out=io.StringIO(), err=io.StringIO())

    def interrupted(timeout: float = 0.0) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(watcher, "step", interrupted)
    assert watcher.run() == 130
    assert watcher.err.getvalue().splitlines()[-1] == "alttext: interrupted"  # type: ignore[attr-defined]


def test_watch_cli_refuses_a_missing_path(site: str, capsys: pytest.CaptureFixture[str]) -> None:
    from alttext.cli import main

    assert main(["watch", "nowhere"]) == 2
    assert capsys.readouterr().err == "nowhere: no such file or directory\n"


def test_a_picture_saved_after_its_page_is_described_then(site: str, start: Callable[..., Watcher]) -> None:
    watcher = start()
    _write("later.md", b"![](img/later.jpg)\n")
    wait_for(lambda: len(out(watcher)) == 1)
    assert out(watcher)[0].startswith('later.md:1:1: ALT001 image "img/later.jpg" has no alt text (not fixed: image not found')
    shutil.copy(os.path.join("img", "cat.jpg"), os.path.join("img", "later.jpg"))  # the author copies the picture in
    wait_for(lambda: watcher.write_count == 1)
    assert _read("later.md") == f"![{ALT}](img/later.jpg)\n".encode()
    assert out(watcher)[-1] == f'later.md:1:1: alt text added for img/later.jpg: "{ALT}"'


SLOW_WRITER = """
import sys, time
with open("slow.md", "w") as f:
    f.write("# Title\\n\\n![](img/cat.jpg)\\n")
    f.flush()
    time.sleep(float(sys.argv[1]))  # the watcher's debounce passes many times over meanwhile
    f.write("More text.\\n")
"""


def test_a_file_another_program_is_still_writing_is_not_replaced(site: str, start: Callable[..., Watcher]) -> None:
    import subprocess
    import sys

    watcher = start()
    writer = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(DEBOUNCE * 15)])
    assert writer.wait(timeout=30) == 0
    wait_for(lambda: watcher.write_count == 1)
    settle()
    # Nothing the writer wrote after its first flush went to a replaced file.
    assert _read("slow.md") == f"# Title\n\n![{ALT}](img/cat.jpg)\nMore text.\n".encode()
    assert "slow.md: open for writing in another program; not written (it is read again once closed)" in watcher.err.getvalue()  # type: ignore[attr-defined]


def test_the_temporary_folder_goes_on_every_exit(site: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings({}, cwd=site)
    watcher = Watcher(["."], settings, debounce=DEBOUNCE, out=io.StringIO(), err=io.StringIO())
    assert os.path.isdir(watcher.workdir)

    def interrupted(timeout: float = 0.0) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(watcher, "step", interrupted)
    assert watcher.run() == 130
    assert not os.path.exists(watcher.workdir)


def test_a_page_linked_from_outside_the_project_is_not_written(site: str, start: Callable[..., Watcher], tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside") / "page.md"
    outside.write_bytes(b"![](cat.jpg)\n")
    shutil.copy(os.path.join("img", "cat.jpg"), outside.parent / "cat.jpg")
    watcher = start()
    os.symlink(outside, "linked.md")
    wait_for(lambda: "linked.md" in watcher.out.getvalue())  # type: ignore[attr-defined]
    settle()
    assert outside.read_bytes() == b"![](cat.jpg)\n" and watcher.write_count == 0
    assert "outside the project" in watcher.out.getvalue()  # type: ignore[attr-defined]


HOLDER = """
import sys, time
with open(sys.argv[1], "a"):
    open(sys.argv[2], "w").close()  # says it holds the file now
    time.sleep(float(sys.argv[3]))
"""


def test_a_refresh_waits_for_a_page_another_program_holds_open(site: str, start: Callable[..., Watcher]) -> None:
    import subprocess
    import sys

    _square(os.path.join("img", "sq.png"), (255, 0, 0))
    captioner = ColourCaptioner()
    watcher = start(captioner=captioner)
    _write("a.md", b"![](img/sq.png)\n")
    wait_for(lambda: watcher.write_count == 1)
    settle()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, "a.md", "holding", str(DEBOUNCE * 15)])
    wait_for(lambda: os.path.exists("holding"))
    described = captioner.images
    _square(os.path.join("img", "sq.png"), (0, 0, 255))  # the picture changes while a.md is held
    wait_for(lambda: "a.md: open for writing in another program" in watcher.err.getvalue())  # type: ignore[attr-defined]
    settle()
    assert watcher.write_count == 1 and captioner.images == described  # nothing described while it is held
    assert holder.wait(timeout=30) == 0
    wait_for(lambda: watcher.write_count == 2)  # the refresh waited for the close, and was not lost
    assert _read("a.md") == b"![A blue square.](img/sq.png)\n"


def test_a_modification_time_in_the_future_does_not_hold_a_page_forever(site: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import alttext.fixing.watch

    monkeypatch.setattr(alttext.fixing.watch, "open_for_writing", lambda path: None)  # a system without leases
    watcher = Watcher(["."], load_settings({}, cwd=site), debounce=DEBOUNCE, out=io.StringIO(), err=io.StringIO())
    try:
        _write("p.md", b"x\n")
        assert not watcher.quiet(os.path.abspath("p.md"))  # just written: not quiet yet
        later = time.time() + 3600
        os.utime("p.md", (later, later))
        assert watcher.quiet(os.path.abspath("p.md"))  # an hour ahead is not "still being written"
        earlier = time.time() - 60
        os.utime("p.md", (earlier, earlier))
        assert watcher.quiet(os.path.abspath("p.md"))
        assert watcher.err.getvalue() == ""  # a guess is not announced as a fact
    finally:
        watcher.close()


def _watch_with(site: str, **change: Any) -> tuple[Watcher, threading.Thread]:
    """A watcher whose captioner is the one the settings name (no test captioner passed in)."""
    settings = dataclasses.replace(load_settings({}, cwd=site), **{"backend": "openai", "writer_model": "echo", "ocr": "off", **change})
    watcher = Watcher(["."], settings, debounce=DEBOUNCE, out=io.StringIO(), err=io.StringIO(), writer=EchoWriter())
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    wait_for(lambda: "watching" in watcher.err.getvalue())  # type: ignore[attr-defined]
    time.sleep(0.1)
    return watcher, thread


def _stop(watcher: Watcher, thread: threading.Thread) -> None:
    watcher.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_captions_from_a_vision_server(site: str) -> None:
    from tests.openai_server import Script, serve

    bicycle = "A red bicycle leans against a white wall."
    script = Script(image_replies=[(200, f"The image shows {bicycle.lower()}", 0.0)], models=["qwen2.5-vl"])
    with serve(script) as url:
        watcher, thread = _watch_with(site, captioner_backend="openai", captioner_base_url=url, captioner_model="qwen2.5-vl")
        try:
            _write("post.md", b"# Rides\n\n![](img/cat.jpg)\n")
            wait_for(lambda: watcher.write_count == 1)
        finally:
            _stop(watcher, thread)
    assert _read("post.md") == f"# Rides\n\n![{bicycle}](img/cat.jpg)\n".encode()  # the echo writer repeats the caption
    assert len(script.requests) == 1 and script.requests == script.with_images()


def test_captioner_none_describes_from_the_picture_alone(site: str) -> None:
    shutil.copy(os.path.join(FIXTURES, "site", "img", "logo.svg"), os.path.join("img", "logo.svg"))
    watcher, thread = _watch_with(site, captioner="none", backend="none")
    try:
        _write("post.md", b"![](img/logo.svg)\n")
        wait_for(lambda: watcher.write_count == 1)
    finally:
        _stop(watcher, thread)
    assert _read("post.md") == b"![A green leaf inside a white circle.](img/logo.svg)\n"
