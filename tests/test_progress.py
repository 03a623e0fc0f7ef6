"""The progress bar: drawn only on a terminal, with rate and ETA, and cleared when done."""

from __future__ import annotations

import io
import os

from alttext.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_line_has_count_rate_and_eta() -> None:
    clock = Clock()
    progress = Progress(Terminal(), clock=clock)
    progress.stage("captioning", 24, "images")
    assert progress.line() == "alttext: captioning [....................] 0/24 images"
    clock.now += 4
    progress.advance(8)
    assert progress.line() == "alttext: captioning [######..............] 8/24 images  2.00 images/s  ETA 0:08"
    clock.now += 8
    progress.advance(16)
    assert progress.line() == "alttext: captioning [####################] 24/24 images  2.00 images/s"


def test_answers_to_write_again_add_to_the_stage() -> None:
    clock = Clock()
    progress = Progress(clock=clock)
    progress.stage("writing", 8, "alt texts")
    clock.now += 4
    progress.advance(8)
    progress.add(4)  # four answers broke a rule: written again
    assert progress.line() == "alttext: writing [#############.......] 8/12 alt texts  2.00 alt texts/s  ETA 0:02"


def test_drawn_on_a_terminal_and_cleared() -> None:
    clock, stream = Clock(), Terminal()
    progress = Progress.on_terminal(stream=stream)
    progress._now = clock  # type: ignore[assignment]
    progress.stage("writing", 2, "alt texts")
    clock.now += 1
    progress.advance(1)
    clock.now += 1
    progress.advance(1)
    progress.done()
    frames = stream.getvalue().split("\r\x1b[K")
    assert frames[1:] == [
        "alttext: writing [....................] 0/2 alt texts",
        "alttext: writing [##########..........] 1/2 alt texts  1.00 alt texts/s  ETA 0:01",
        "alttext: writing [####################] 2/2 alt texts  1.00 alt texts/s",
        "",
    ]


def test_silent_off_a_terminal_and_when_quiet() -> None:
    pipe = io.StringIO()
    for progress in (Progress.on_terminal(stream=pipe), Progress.on_terminal(quiet=True, stream=Terminal()), Progress()):
        progress.stage("captioning", 3, "images")
        progress.advance(3)
        progress.done()
        assert progress.stream is None
    assert pipe.getvalue() == ""


def test_describe_reports_its_stages(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import dataclasses
    import os

    from alttext.model import Settings
    from alttext.pipeline.describe import describe
    from tests.conftest import FIXTURES
    from tests.fixing import EchoWriter, FixedCaptioner

    meadow = os.path.join(FIXTURES, "site", "img", "meadow.jpg")
    stream = Terminal()
    settings = dataclasses.replace(Settings(), backend="openai", writer_model="echo", length=30, batch_size=1)
    describe([meadow, meadow], None, settings, captioner=FixedCaptioner(), writer=EchoWriter(), progress=Progress(stream))
    shown = [frame.split(" [")[0] for frame in stream.getvalue().split("\r\x1b[K") if frame]
    from alttext.pipeline.evidence import ocr

    stages = ["alttext: reading text"] if ocr.available() else []
    assert list(dict.fromkeys(shown)) == [*stages, "alttext: captioning", "alttext: writing"]
    assert stream.getvalue().endswith("\r\x1b[K")  # nothing left on the line


def test_in_a_log_a_line_when_a_stage_starts_and_every_so_often(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from alttext.progress import PLAIN_EVERY_S

    clock = Clock()
    with open(tmp_path / "log.txt", "w", encoding="utf-8") as log:  # a file, as CI's stderr is a pipe
        progress = Progress.on_terminal(stream=log)
        progress._now = clock  # type: ignore[assignment]
        assert progress.plain
        progress.note("loading the writer Qwen/Qwen3-0.6B")
        progress.stage("writing", 100, "alt texts")
        for _ in range(10):
            clock.now += PLAIN_EVERY_S / 4
            progress.advance(5)
        progress.done()
    with open(tmp_path / "log.txt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines[:2] == ["alttext: loading the writer Qwen/Qwen3-0.6B", "alttext: writing 0/100 alt texts"]
    assert len(lines) == 4 and lines[2].startswith("alttext: writing 20/100 alt texts  ") and "\x1b" not in "".join(lines)
    assert Progress.on_terminal(quiet=True, stream=open(os.devnull, "w")).stream is None  # noqa: SIM115
