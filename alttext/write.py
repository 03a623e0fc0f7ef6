"""Writing a file back: atomically, and only if nobody changed it since it was read."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile


class Changed(Exception):
    """The file on disk is no longer the one that was read."""


def _unchanged(path: str, expected: bytes) -> None:
    with open(path, "rb") as f:
        if f.read() != expected:
            raise Changed(path)


def write_atomic(path: str, data: bytes, expected: bytes | None) -> None:
    """Replace the contents of ``path`` (through a symlink, its target) with ``data``.

    A temporary file in the same folder is written, flushed to disk and given the original
    permissions, then renamed over the file, so a reader sees the old bytes or the new ones,
    never half of them. Raises Changed (and writes nothing) if the file no longer holds
    ``expected``; OSError if it cannot be written. With ``expected=None`` the file is the tool's
    own output (a report): it may be new, and whatever it held is replaced.
    """
    target = os.path.realpath(path)
    if expected is None:
        umask = os.umask(0)
        os.umask(umask)
        mode = stat.S_IMODE(os.stat(target).st_mode) if os.path.exists(target) else 0o666 & ~umask
    else:
        _unchanged(target, expected)
        mode = stat.S_IMODE(os.stat(target).st_mode)
    folder = os.path.dirname(target)
    fd, temporary = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(target) + ".", suffix=".alttext")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, mode)
        if expected is not None:
            _unchanged(target, expected)  # once more, as close to the rename as it gets
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where the OS allows
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
