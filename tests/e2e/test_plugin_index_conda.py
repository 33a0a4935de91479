"""The index wrapper inside real conda, where conda is importable: conda's own SubdirData
reads a channel index cut every MiB, through the wrapped ``RepodataFetch.fetch_latest``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conda_fetch.testing.faultserver import Faults
from conda_fetch.testing.repodata import write_index

NO_CONDA = ("conda is not installed here (it is not on the registries CI reaches); the hooks "
            "are tested where conda is")
MB = 1 << 20


@pytest.fixture
def conda_index(tmp_path) -> Iterator[Path]:
    """Real conda without configuration, its package cache in ``tmp_path``; conda's
    ``fetch_latest`` and context are restored afterwards."""
    pytest.importorskip("conda.gateways.repodata", reason=NO_CONDA)
    from conda.base.context import reset_context
    from conda.core.subdir_data import SubdirData
    from conda.gateways.repodata import RepodataFetch

    pkgs = tmp_path / "pkgs"
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("CONDA_")]:
            patch.delenv(name)
        patch.setenv("CONDA_PKGS_DIRS", str(pkgs))
        patch.setattr(RepodataFetch, "fetch_latest", RepodataFetch.fetch_latest)
        reset_context(())
        SubdirData.clear_cached_local_channel_data(exclude_file=False)
        yield pkgs
    reset_context()


def test_condas_own_index_read_gets_through_cuts(conda_index, tmp_path, fault_server) -> None:
    from conda.core.subdir_data import SubdirData
    from conda.models.channel import Channel

    from conda_fetch.plugin import hooks

    channel = tmp_path / "channel"
    source = write_index(channel, "linux-64", 4 * MB)
    server = fault_server(channel, Faults(cut_every=MB))
    hooks._wrap_index()
    subdir = SubdirData(Channel(f"{server.url}/linux-64"))
    subdir.load()
    assert len(list(subdir.iter_records())) > 1000
    cached = list((conda_index / "cache").glob("*.json"))
    assert [p.read_bytes() for p in cached if not p.name.endswith(".info.json")] == \
        [source.read_bytes()]
    assert server.stats.bytes_sent <= len(source.read_bytes()) * 1.05 + 2 * MB
