"""Which URLs serve a record: its own, then its channel's mirrors."""

from __future__ import annotations

from conda_fetch.sources import candidates


def test_candidates_longest_prefix_mirror() -> None:
    mirrors = {
        "https://conda.anaconda.org": ["https://mirror.a/anaconda/cloud"],
        "https://conda.anaconda.org/conda-forge": ["https://mirror.b/cf", "https://mirror.c/cf/"],
    }
    url = "https://conda.anaconda.org/conda-forge/linux-64/x-1-0.conda"
    assert candidates(url, mirrors) == [
        url,
        "https://mirror.b/cf/linux-64/x-1-0.conda",
        "https://mirror.c/cf/linux-64/x-1-0.conda",
    ]
    assert candidates("https://other/x.conda", mirrors) == ["https://other/x.conda"]
