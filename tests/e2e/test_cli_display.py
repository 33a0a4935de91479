"""The display in a real pseudo-terminal at 60 and 120 columns: sizes learnt from the
server, every line within the width, and a Ctrl-C that erases nothing."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from conda_fetch.testing.faultserver import Faults
from conda_fetch.testing.packages import build_package

CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
CURSOR_UP = "\x1b[1A"


def _spawn(argv: list[str], columns: int) -> tuple[subprocess.Popen, int]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    child = subprocess.Popen([sys.executable, "-m", "conda_fetch", *argv], stdin=slave,
                             stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    return child, master


def _read(master: int, until: str | None = None, limit: float = 60.0) -> str:
    """What the terminal got: until EOF, or until ``until`` appears."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if not ready:
            continue
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
        if until is not None and until in b"".join(chunks).decode("utf-8", "replace"):
            break
    return b"".join(chunks).decode("utf-8", "replace")


def _visible_lines(text: str) -> list[str]:
    """Every piece of text written from the start of a line (between line feeds and
    carriage returns), escapes dropped."""
    return [CSI.sub("", piece) for line in text.split("\n") for piece in line.split("\r")]


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("srv")
    build_package(root / "noarch", "numpy-base-with-a-rather-long-name", payload=450_000)
    return root


@pytest.mark.parametrize("columns", [60, 120])
def test_frames_fit_and_learn_sizes_from_the_server(tmp_path, served, fault_server,
                                                    columns) -> None:
    server = fault_server(served, Faults(throttle=350_000))
    archive = next((served / "noarch").iterdir())
    plan = tmp_path / "urls.txt"
    plan.write_text(f"{server.url}/noarch/{archive.name}\n")  # no sizes in the plan
    child, master = _spawn(["get", str(plan), "--pkgs-dir", str(tmp_path / "pkgs"),
                            "--split", "1"], columns)
    text = _read(master)
    assert child.wait(timeout=30) == 0
    os.close(master)
    lines = _visible_lines(text)
    assert f"  → {tmp_path / 'pkgs'}" in lines  # a path is as long as it is: on its own line
    lines = [line for line in lines if not line.startswith("  → ")]
    assert max(len(line) for line in lines) <= columns - 1, max(lines, key=len)
    frames = [line for line in lines if line.startswith("total  ")]
    assert any(re.search(r"/ \d+\.\d KiB \(\d+%\)", line) for line in frames), frames
    assert any(re.search(r"\d+%  ", line) for line in lines if "numpy" in line
               and not line.startswith("✓"))
    assert any(line.startswith("1 fetched (") for line in lines)
    if columns >= 100:
        assert any("█" in line for line in lines)


def test_ctrl_c_leaves_every_printed_line(tmp_path, served, fault_server) -> None:
    # every answer stops after 100 kB: the interrupt comes while the server sends nothing
    server = fault_server(served, Faults(stall_after=100_000))
    archive = next((served / "noarch").iterdir())
    plan = tmp_path / "urls.txt"
    plan.write_text(f"{server.url}/noarch/{archive.name}\n")
    child, master = _spawn(["get", str(plan), "--pkgs-dir", str(tmp_path / "pkgs"),
                            "--split", "1", "--stall-timeout", "1"], 80)
    before = _read(master, until="total  ")
    child.send_signal(signal.SIGINT)
    after = _read(master)
    assert child.wait(timeout=30) == 130
    os.close(master)
    assert "interrupted; progress is saved" in after
    last_frame = (before + after).rindex("total  ")
    assert CURSOR_UP not in (before + after)[last_frame:], "lines were erased after Ctrl-C"
    assert "(100%)" not in (before + after)[last_frame:], "an interrupted file is not done"
