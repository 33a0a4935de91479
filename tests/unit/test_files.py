"""Writes that never follow a link they did not create, and reads of regular files only."""

from __future__ import annotations

import io
import os

import pytest

from conda_fetch.cache.urls import append_url
from conda_fetch.files import WriteError, copy_new, open_regular, replacing, write_atomically


def test_replacing_a_planted_link_replaces_the_link(tmp_path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    target = tmp_path / "out.txt"
    target.symlink_to(victim)
    write_atomically(target, "new")
    assert victim.read_text() == "precious"
    assert not target.is_symlink() and target.read_text() == "new"


def test_a_failed_write_leaves_the_target_and_no_temporary(tmp_path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), replacing(target) as stream:
        stream.write(b"half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_copy_new_never_writes_through_an_existing_name(tmp_path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "staged").symlink_to(victim)
    with pytest.raises(FileExistsError):
        copy_new(io.BytesIO(b"data"), tmp_path / "staged")
    assert victim.read_text() == "precious"
    copy_new(io.BytesIO(b"data"), tmp_path / "fresh")
    assert (tmp_path / "fresh").read_bytes() == b"data"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_open_regular_refuses_a_fifo_without_blocking(tmp_path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        open_regular(fifo)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "real")
    (tmp_path / "real").write_bytes(b"bytes")
    with open_regular(link) as stream:  # a link to a regular file is read for its bytes
        assert stream.read() == b"bytes"


def test_urls_txt_that_is_a_link_is_not_appended_through(tmp_path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    (pkgs / "urls.txt").symlink_to(victim)
    with pytest.raises(OSError):
        append_url(pkgs, "https://h/noarch/a-1-0.conda")
    assert victim.read_text() == "precious\n"


def test_an_output_that_cannot_be_written_is_one_line_for_the_user(tmp_path) -> None:
    with pytest.raises(WriteError, match=r"cannot write .*missing/out\.txt") as info:
        write_atomically(tmp_path / "missing" / "out.txt", "x")
    assert isinstance(info.value, OSError) and info.value.exit_code == 1
