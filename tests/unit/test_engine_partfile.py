"""Part files and their resume state: opened without following planted links, created in
one call when new, and a state never trusted without its part file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conda_fetch.engine.partfile import PartFile, RangeSet, flush

CHECKED = {"size": 100, "sha256": "ab" * 32, "md5": None}
UNCHECKED = {"url": "sha256:" + "cd" * 32}


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    return victim


def _write_and_save(part: PartFile) -> None:
    fd = part.open()
    try:
        os.pwrite(fd, b"x" * 10, 0)
        part.save(fd, RangeSet([(0, 10)]))
    finally:
        part.close(fd)


@pytest.mark.parametrize("identity", [CHECKED, UNCHECKED])
def test_links_planted_at_every_name_are_replaced_not_followed(tmp_path, identity) -> None:
    victim = _victim(tmp_path)
    path = tmp_path / "pkgs" / "x.conda.part"
    path.parent.mkdir()
    for suffix in ("", ".state", ".state.tmp"):
        Path(f"{path}{suffix}").symlink_to(victim)
    part = PartFile(path, identity)
    assert part.load().total() == 0
    _write_and_save(part)
    assert victim.read_text() == "precious"
    assert not any(p.is_symlink() for p in path.parent.iterdir())
    assert path.read_bytes() == b"x" * 10
    again = PartFile(path, identity)
    assert again.load().as_list() == [[0, 10]]
    again.close(again.open())


@pytest.mark.parametrize("identity", [CHECKED, UNCHECKED])
def test_a_link_planted_where_only_the_state_goes_is_never_written_through(tmp_path,
                                                                           identity) -> None:
    victim = _victim(tmp_path)
    path = tmp_path / "x.conda.part"
    Path(f"{path}.state").symlink_to(victim)
    part = PartFile(path, identity)
    assert part.load().total() == 0
    _write_and_save(part)
    part.forget_state()
    assert victim.read_text() == "precious"
    assert not Path(f"{path}.state").is_symlink()


def test_a_new_part_file_is_created_by_load_and_handed_out_by_open(tmp_path) -> None:
    path = tmp_path / "folder" / "x.conda.part"
    part = PartFile(path, CHECKED)
    assert part.load().total() == 0
    assert path.is_file()  # made (with its folder) by load
    fd = part.open()
    try:
        os.write(fd, b"abc")
        assert os.fstat(fd).st_ino == path.stat().st_ino
        flush(path)  # through the open descriptor
    finally:
        part.close(fd)
    assert path.read_bytes() == b"abc"


def test_a_closed_part_file_is_flushed_through_a_new_descriptor_never_the_old_one(
        tmp_path) -> None:
    path = tmp_path / "x.conda.part"
    part = PartFile(path, CHECKED)
    part.load()
    part.close(part.open())
    other = os.open(tmp_path / "other", os.O_RDWR | os.O_CREAT)  # may reuse the number
    try:
        path.unlink()
        with pytest.raises(FileNotFoundError):
            flush(path)
    finally:
        os.close(other)


def test_a_state_left_without_its_part_file_is_removed_when_nothing_would_check(
        tmp_path) -> None:
    """A crash can leave a state whose part file is gone; for a file with no checksum its
    ranges would go unverified, so it goes before the new part file gets any byte."""
    path = tmp_path / "x.conda.part"
    state = {"version": 1, "identity": UNCHECKED, "done": [[0, 50]]}
    Path(f"{path}.state").write_text(json.dumps(state))
    part = PartFile(path, UNCHECKED)
    assert part.load().total() == 0
    part.close(part.open())
    assert not Path(f"{path}.state").exists()
    path.write_bytes(b"y" * 60)
    again = PartFile(path, UNCHECKED)
    assert again.load().total() == 0
    again.close(again.open())


def test_a_part_file_left_by_an_earlier_run_is_resumed_in_place(tmp_path) -> None:
    path = tmp_path / "x.conda.part"
    first = PartFile(path, CHECKED)
    first.load()
    _write_and_save(first)  # closes it
    again = PartFile(path, CHECKED)
    assert again.load().as_list() == [[0, 10]]
    fd = again.open()
    try:
        assert os.pread(fd, 10, 0) == b"x" * 10
    finally:
        again.close(fd)

