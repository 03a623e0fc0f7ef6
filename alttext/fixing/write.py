"""Writing a file back: atomically, only inside the project, only to a file its owner lets be
written, and only if nobody changed it since it was read."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence


class Changed(Exception):
    """The file on disk is no longer the one that was read."""


class Refused(Exception):
    """The file is not one alttext may write (``str(exc)`` says why, in a few words)."""


def roots(project: str, *given: str) -> tuple[str, ...]:
    """Where files may be written: under the project root, and under each path given. A path
    given is taken as named, its folders resolved but not itself: naming a link (a page, or a
    folder) does not make its target part of the project."""
    named = (os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(p))), os.path.basename(os.path.abspath(p))) for p in given)
    return tuple(dict.fromkeys((os.path.realpath(project), *named)))


def allowed_roots(project: str, follow_symlinks: bool, *given: str) -> tuple[str, ...] | None:
    """``roots``, or None (anywhere) where the user asked to write through symbolic links."""
    return None if follow_symlinks else roots(project, *given)


def inside(path: str, allowed: Iterable[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in allowed)


def refusal(path: str, allowed: Sequence[str] | None) -> str | None:
    """Why ``path`` may not be written (None when it may). ``allowed=None``: anywhere (the user
    asked to write through symbolic links)."""
    if allowed is not None and not inside(path, allowed):
        return f"it resolves to {os.path.realpath(path)}, outside the project (--follow-symlinks writes through links)"
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # the write itself says what is wrong
    # Root may write anything: the permission bits still say what the owner wants.
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(path, os.W_OK):
        return "it is read-only"
    return None


def _unchanged(path: str, expected: bytes) -> None:
    with open(path, "rb") as f:
        if f.read() != expected:
            raise Changed(path)


def write_atomic(path: str, data: bytes, expected: bytes | None, allowed: Sequence[str] | None = None) -> None:
    """Replace the contents of ``path`` (through a symlink, its target) with ``data``.

    A temporary file in the same folder is written, flushed to disk and given the original
    permissions, then renamed over the file, so a reader sees the old bytes or the new ones,
    never half of them. Raises Changed (and writes nothing) if the file no longer holds
    ``expected``; Refused if its real path is not under one of ``allowed`` (checked now, after
    the descriptions, so a page swapped for a link meanwhile is not written through) or it is
    read-only; OSError if it cannot be written. With ``expected=None`` the file is the tool's
    own output (a report): it may be new, and whatever it held is replaced.
    """
    target = os.path.realpath(path)
    if expected is not None and (why := refusal(path, allowed)):
        raise Refused(why)
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
            if os.path.realpath(path) != target:
                raise Refused("it was replaced by a link while it was being fixed")
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


def open_for_writing(path: str) -> bool | None:
    """Whether another process holds ``path`` open for writing (None: this system cannot tell).

    Linux refuses a read lease on a file that any process has open for writing, so asking for one
    (and giving it back at once) answers without scanning every process's open files. Elsewhere,
    or on a file system without leases, the answer is None.
    """
    try:
        import fcntl

        set_lease = fcntl.F_SETLEASE
    except (ImportError, AttributeError):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        fcntl.fcntl(fd, set_lease, fcntl.F_RDLCK)
        fcntl.fcntl(fd, set_lease, fcntl.F_UNLCK)
        return False
    except OSError as exc:
        return True if exc.errno in (errno.EAGAIN, errno.EBUSY) else None
    finally:
        os.close(fd)
