"""Progress on stderr while models work: stage, count, rate and ETA.

On a terminal, a one-line bar, cleared when a stage ends so the per-image lines that follow stay
clean. In a log (CI, pre-commit: stderr is a pipe or a file), a plain line when a stage starts and
every ``PLAIN_EVERY_S`` seconds, so a long run is never silent. Nothing with ``--quiet``, with
``TERM=dumb``, or on a stream that is no file at all (a test's buffer).
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

WIDTH = 20
REFRESH_S = 0.1
PLAIN_EVERY_S = 15.0


def wanted(stream: TextIO, quiet: bool) -> bool:
    if quiet or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _clock(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    return f"{seconds // 60}:{seconds % 60:02d}"


def _is_log(stream: TextIO, quiet: bool) -> bool:
    """A real file or pipe that is not a terminal (CI, pre-commit)."""
    if quiet or os.environ.get("TERM") == "dumb":
        return False
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


class Progress:
    """``Progress()`` draws nothing; ``Progress(sys.stderr)`` draws a bar on it;
    ``Progress(stream, plain=True)`` writes a line now and then."""

    def __init__(self, stream: TextIO | None = None, clock: object = time.monotonic, plain: bool = False) -> None:
        self.stream = stream
        self.plain = plain
        self._now = clock  # type: ignore[assignment]
        self.label = ""
        self.unit = ""
        self.total = self.count = 0
        self._started = self._drawn = 0.0

    @classmethod
    def on_terminal(cls, quiet: bool = False, stream: TextIO | None = None) -> Progress:
        stream = stream or sys.stderr
        if wanted(stream, quiet):
            return cls(stream)
        return cls(stream, plain=True) if _is_log(stream, quiet) else cls(None)

    def note(self, text: str) -> None:
        """Say what is happening before a stage can count it (a model loading)."""
        self.done()
        if self.stream is None:
            return
        self.stream.write(f"alttext: {text}\n" if self.plain else f"\r\x1b[K{text}")
        self.stream.flush()

    def stage(self, label: str, total: int, unit: str) -> None:
        self.done()
        self.label, self.total, self.unit, self.count = label, total, unit, 0
        self._started = self._now()  # type: ignore[operator]
        self._draw(force=True)

    def advance(self, n: int = 1) -> None:
        self.count = min(self.total, self.count + n)
        self._draw(force=self.count == self.total)

    def add(self, n: int) -> None:
        """The stage has ``n`` more to do than it said (answers to write again)."""
        self.total += n
        self._draw()

    def line(self, bar: bool = True) -> str:
        """The text of the bar, e.g. ``captioning [#####...]  8/24 images  2.1 images/s  ETA 0:08``
        (without the bar, for a log: ``captioning 8/24 images  2.1 images/s  ETA 0:08``)."""
        filled = WIDTH * self.count // self.total if self.total else WIDTH
        drawn = f" [{'#' * filled}{'.' * (WIDTH - filled)}]" if bar else ""
        text = f"alttext: {self.label}{drawn} {self.count}/{self.total} {self.unit}"
        elapsed = self._now() - self._started  # type: ignore[operator]
        if self.count and elapsed > 0:
            rate = self.count / elapsed
            text += f"  {rate:.2f} {self.unit}/s"
            if self.count < self.total:
                text += f"  ETA {_clock((self.total - self.count) / rate)}"
        return text

    def _draw(self, force: bool = False) -> None:
        if self.stream is None or not self.label:
            return
        now = self._now()  # type: ignore[operator]
        if self.plain:
            # A log line when the stage starts, then every PLAIN_EVERY_S: no bar to redraw.
            if self._drawn and now - self._drawn < PLAIN_EVERY_S:
                return
            self._drawn = now
            self.stream.write(self.line(bar=False) + "\n")
            self.stream.flush()
            return
        if not force and now - self._drawn < REFRESH_S:
            return
        self._drawn = now
        self.stream.write("\r\x1b[K" + self.line())
        self.stream.flush()

    def done(self) -> None:
        """Clear the line (the work it measured is finished)."""
        if self.plain:
            self.label, self._drawn = "", 0.0
            return
        if self.stream is not None and self.label:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        self.label = ""
