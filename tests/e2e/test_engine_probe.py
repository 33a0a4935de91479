"""Measuring a mirror against a real server: a late look at its answer cannot make it fast."""

from __future__ import annotations

import os
import time
from typing import Any

from conda_fetch.engine import make_session
from conda_fetch.engine.probe import probe
from conda_fetch.testing.faultserver import Faults

KiB = 1 << 10


class _Late:
    """A session whose caller looks at each answer only 1.5 s after it came (a busy machine)."""

    def __init__(self) -> None:
        self._session = make_session()

    def get(self, url: str, **kwargs: Any) -> Any:
        response = self._session.get(url, **kwargs)
        time.sleep(1.5)
        return response


def test_a_probe_looked_at_late_still_measures_the_mirrors_pace(tmp_path, fault_server) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "f.conda").write_bytes(os.urandom(256 * KiB))
    server = fault_server(root, Faults(throttle=64 * KiB))
    measured = probe(_Late(), server.url, "f.conda", 64 * KiB)
    assert not measured.error
    # its 64 KiB came a second after the answer, and were all waiting when looked at
    assert measured.speed is not None and measured.speed <= 64 * KiB
