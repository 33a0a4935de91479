"""Finding the source of bad bytes against real servers: every request beside the
engine's connections is held at its host while it runs."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator

from conda_fetch.engine import make_session
from conda_fetch.engine.blame import suspects
from conda_fetch.engine.partfile import RangeSet
from conda_fetch.testing.faultserver import Faults

SIZE = 3 << 20
FLIPPED = (2 << 20) + 5


def test_the_hunt_holds_each_host_it_asks_and_names_the_culprit(tmp_path, fault_server) -> None:
    root = tmp_path / "root"
    root.mkdir()
    data = hashlib.shake_256(b"blame").digest(SIZE)
    (root / "f").write_bytes(data)
    good = [fault_server(root).url_for("f") for _ in range(2)]
    bad = fault_server(root, Faults(corrupt_offsets={FLIPPED})).url_for("f")
    received = bytearray(data)
    received[FLIPPED] ^= 0xFF  # what the bad one served
    part = tmp_path / "f.part"
    part.write_bytes(received)
    held: list[str] = []

    @contextlib.contextmanager
    def hold(url: str) -> Iterator[None]:
        held.append(url)
        yield

    served = {good[0]: RangeSet([(0, 2 << 20)]), bad: RangeSet([(2 << 20, SIZE)])}
    fd = os.open(part, os.O_RDONLY)
    try:
        found = suspects(make_session(), served, lambda url: [u for u in [*good, bad] if u != url],
                         fd, 5.0, hold)
    finally:
        os.close(fd)
    assert found == [bad]
    assert held and all(url in good for url in held)  # only the witnesses were asked
