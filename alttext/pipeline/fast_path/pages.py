"""Dropping the pages of released weights: a weight read from a memory-mapped checkpoint and then
replaced (packed, or converted to another dtype) would otherwise stay resident next to its
replacement. Linux only: /proc/self/maps lists the mappings and libc's ``madvise`` takes
MADV_DONTNEED, through ctypes."""

from __future__ import annotations

import sys

# The internals this needs, as the fast path's warning names them.
PAGE_DROPPING = "madvise(MADV_DONTNEED) through ctypes on /proc/self/maps (releasing replaced weights)"


def file_mappings() -> list[tuple[int, int]]:
    """The address ranges this process has mapped from files, where their pages can be dropped
    (Linux, see ``page_dropping_works``); none elsewhere."""
    if not page_dropping_works():
        return []
    return _mapped_files()


def _mapped_files() -> list[tuple[int, int]]:
    ranges = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and fields[5].startswith("/"):
                    start, end = (int(x, 16) for x in fields[0].split("-"))
                    ranges.append((start, end))
    except OSError:
        pass
    return ranges


def drop_pages(address: int, size: int, files: list[tuple[int, int]]) -> None:
    """Drop from this process's memory the whole pages of ``[address, address + size)``, where that
    lies in a file mapping: a released weight of a memory-mapped checkpoint, which would otherwise
    stay resident next to its packed copy. Nothing reads those bytes again; were anything to, the
    kernel would read them back from the file. Pages shared with the bytes around are kept."""
    import mmap

    if not any(start <= address and address + size <= end for start, end in files):
        return
    page = mmap.PAGESIZE
    first, last = -(-address // page) * page, (address + size) // page * page
    if last > first:
        _madvise_dontneed(first, last - first)


def _madvise_dontneed(address: int, size: int) -> bool:
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).madvise(ctypes.c_void_p(address), ctypes.c_size_t(size), 4) == 0  # MADV_DONTNEED
    except (OSError, AttributeError):
        return False


_DROPPING: list[bool] = []  # whether pages of a file mapping can be dropped in this process, once checked


def page_dropping_works() -> bool:
    """Whether this process can drop the pages of a file mapping it no longer reads: Linux lists
    its mappings in /proc/self/maps and libc's ``madvise`` takes MADV_DONTNEED. Checked once per
    process on two pages of a temporary file: the mapping is listed, the call succeeds, and the
    bytes read back from the file. False on other systems."""
    if not _DROPPING:
        _DROPPING.append(sys.platform.startswith("linux") and _probe_page_dropping())
    return _DROPPING[0]


def page_dropping_fails() -> bool:
    """Whether this is Linux, where released weights' pages are dropped, and that fails here (the
    fast path's warning then names ``PAGE_DROPPING``). Elsewhere pages are not dropped at all."""
    return sys.platform.startswith("linux") and not page_dropping_works()


def _probe_page_dropping() -> bool:
    import ctypes
    import mmap
    import tempfile

    page = mmap.PAGESIZE
    data = bytes(range(256)) * (2 * page // 256)
    try:
        with tempfile.TemporaryFile() as f:
            f.write(data)
            f.flush()
            mapped = mmap.mmap(f.fileno(), len(data), access=mmap.ACCESS_COPY)
            try:
                view = ctypes.c_char.from_buffer(mapped)
                address = ctypes.addressof(view)
                try:
                    listed = any(start <= address and address + len(data) <= end for start, end in _mapped_files())
                    return listed and mapped[:] == data and _madvise_dontneed(address, len(data)) and mapped[:] == data
                finally:
                    del view
            finally:
                mapped.close()
    except Exception:  # anything going wrong in a probe means the pages stay
        return False
