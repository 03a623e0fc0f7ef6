"""A one-line progress bar on stderr while models work: stage, count, rate and ETA.

Shown only on a terminal; silent when stderr is a pipe or a file (pre-commit, CI logs) and with
``--quiet``. The line is cleared when a stage ends, so the per-image lines that follow stay clean.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

WIDTH = 20
REFRESH_S = 0.1


def wanted(stream: TextIO, quiet: bool) -> bool:
    if quiet or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _clock(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """``Progress()`` draws nothing; ``Progress(sys.stderr)`` draws on it."""

    def __init__(self, stream: TextIO | None = None, clock: object = time.monotonic) -> None:
        self.stream = stream
        self._now = clock  # type: ignore[assignment]
        self.label = ""
        self.unit = ""
        self.total = self.count = 0
        self._started = self._drawn = 0.0

    @classmethod
    def on_terminal(cls, quiet: bool = False, stream: TextIO | None = None) -> Progress:
        stream = stream or sys.stderr
        return cls(stream if wanted(stream, quiet) else None)

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

    def line(self) -> str:
        """The text of the bar, e.g. ``captioning [#####...]  8/24 images  2.1 images/s  ETA 0:08``."""
        filled = WIDTH * self.count // self.total if self.total else WIDTH
        bar = "#" * filled + "." * (WIDTH - filled)
        text = f"alttext: {self.label} [{bar}] {self.count}/{self.total} {self.unit}"
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
        if not force and now - self._drawn < REFRESH_S:
            return
        self._drawn = now
        self.stream.write("\r\x1b[K" + self.line())
        self.stream.flush()

    def done(self) -> None:
        """Clear the line (the work it measured is finished)."""
        if self.stream is not None and self.label:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        self.label = ""
