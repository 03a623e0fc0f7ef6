"""Offsets to 1-based (line, column), counting every line break an editor shows."""

from __future__ import annotations

import bisect
import itertools
import re

BREAK = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """The lines without their line breaks (what markdown-it sees after normalising)."""
    return BREAK.split(text) if "\r" in text else text.split("\n")


class LineIndex:
    """Maps offsets in ``text`` to (line, column); CRLF, lone CR and LF each end a line."""

    def __init__(self, text: str) -> None:
        self.text = text
        if "\r" in text:
            self.starts = [0] + [m.end() for m in BREAK.finditer(text)]
        else:  # the common case, done in C
            self.starts = [0, *itertools.accumulate(len(line) + 1 for line in text.split("\n")[:-1])]

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1

    def offset(self, line: int, column: int) -> int:
        """Inverse of :meth:`position` for a 0-based line and 0-based column."""
        return self.starts[line] + column


def lf_starts(text: str) -> list[int]:
    """Line starts counting only ``\\n``, as ``html.parser.getpos()`` does."""
    starts = [0]
    find = text.find
    i = find("\n")
    while i != -1:
        starts.append(i + 1)
        i = find("\n", i + 1)
    return starts
