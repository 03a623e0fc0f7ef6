from __future__ import annotations

import os
import stat

import pytest

from alttext.fixing.write import Changed, write_atomic


def _mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_replaces_the_file_keeping_its_mode_and_leaves_no_temporary(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(str(tmp_path), "page.md")
    with open(path, "wb") as f:
        f.write(b"old\r\n")
    os.chmod(path, 0o640)
    write_atomic(path, b"new\r\n", b"old\r\n")
    with open(path, "rb") as f:
        assert f.read() == b"new\r\n"
    assert _mode(path) == 0o640 and os.listdir(str(tmp_path)) == ["page.md"]


def test_a_file_that_changed_is_not_written(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(str(tmp_path), "page.md")
    with open(path, "wb") as f:
        f.write(b"edited by a person")
    with pytest.raises(Changed):
        write_atomic(path, b"new", b"what alttext read")
    with open(path, "rb") as f:
        assert f.read() == b"edited by a person"
    assert os.listdir(str(tmp_path)) == ["page.md"]


def test_through_a_symlink_the_target_is_written(tmp_path: os.PathLike[str]) -> None:
    target = os.path.join(str(tmp_path), "real.md")
    link = os.path.join(str(tmp_path), "link.md")
    with open(target, "wb") as f:
        f.write(b"old")
    os.symlink(target, link)
    write_atomic(link, b"new", b"old")
    assert os.path.islink(link)
    with open(target, "rb") as f:
        assert f.read() == b"new"


def test_the_tools_own_output_may_be_new(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(str(tmp_path), "report.json")
    umask = os.umask(0o022)
    try:
        write_atomic(path, b"{}", None)
        assert _mode(path) == 0o644
        write_atomic(path, b"[]", None)  # and is replaced whatever it held
    finally:
        os.umask(umask)
    with open(path, "rb") as f:
        assert f.read() == b"[]"


def test_a_file_swapped_for_a_link_just_before_the_rename_is_not_written_through(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import alttext.fixing.write

    root, outside = os.path.join(str(tmp_path), "root"), os.path.join(str(tmp_path), "outside")
    os.makedirs(root)
    os.makedirs(outside)
    page, target = os.path.join(root, "a.md"), os.path.join(outside, "a.md")
    for path in (page, target):
        with open(path, "wb") as f:
            f.write(b"old\n")
    checks = []

    def swapped_on_the_last_check(path: str, expected: bytes) -> None:
        checks.append(path)
        if len(checks) == 2:  # after every earlier check passed, as close to the rename as it gets
            os.unlink(page)
            os.symlink(target, page)

    monkeypatch.setattr(alttext.fixing.write, "_unchanged", swapped_on_the_last_check)
    with pytest.raises(alttext.fixing.write.Refused, match="replaced by a link"):
        alttext.fixing.write.write_atomic(page, b"new\n", b"old\n", alttext.fixing.write.roots(root))
    with open(target, "rb") as f:
        assert f.read() == b"old\n"
    assert not [n for n in os.listdir(root) if n.endswith(".alttext")]
