"""Mirror maps from every source, the mirrors command, and its saved ranking at work."""

from __future__ import annotations

import argparse
import json

import pytest

from conda_fetch.cli import main
from conda_fetch.config import own
from conda_fetch.errors import InputError
from conda_fetch.sources import candidates
from conda_fetch.sources import mirrors as mirrormap
from conda_fetch.testing.faultserver import Faults, refused_url
from conda_fetch.testing.packages import build_package
from support.channel import build_channel, plan_from_repodata


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDA_FETCH_CONFIG", str(tmp_path / "conda-fetch.toml"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.setenv("CONDARC", str(tmp_path / "condarc.yml"))
    monkeypatch.delenv("MAMBA_ROOT_PREFIX", raising=False)


def test_presets_map_defaults_and_cloud_channels() -> None:
    china = mirrormap.preset("china")
    url = "https://conda.anaconda.org/pytorch/linux-64/pytorch-2.5.1-py3.12_cuda12.4_0.tar.bz2"
    urls = candidates(url, china)
    assert urls[0] == url
    assert ("https://mirrors.tuna.tsinghua.edu.cn/anaconda/cloud/pytorch/linux-64/"
            "pytorch-2.5.1-py3.12_cuda12.4_0.tar.bz2") in urls
    main_url = "https://repo.anaconda.com/pkgs/main/noarch/x-1-0.conda"
    assert "https://mirrors.ustc.edu.cn/anaconda/pkgs/main/noarch/x-1-0.conda" in candidates(
        main_url, mirrormap.preset("ustc"))
    # A channel configured as a mirror's own URL (common in China) gets the others too.
    tuna_url = "https://mirrors.tuna.tsinghua.edu.cn/anaconda/pkgs/main/noarch/x-1-0.conda"
    urls = candidates(tuna_url, china)
    assert urls[0] == tuna_url and main_url in urls
    assert "https://mirror.nju.edu.cn/anaconda/pkgs/main/noarch/x-1-0.conda" in urls
    assert len(urls) == 6
    with pytest.raises(InputError, match="unknown mirror preset"):
        mirrormap.preset("nowhere")


def test_sources_merge_in_priority_order(tmp_path) -> None:
    (tmp_path / "condarc.yml").write_text(
        "mirrored_channels:\n  conda-forge:\n    - https://mamba-mirror/conda-forge\n")
    pixi = tmp_path / "home" / ".config" / "pixi"
    pixi.mkdir(parents=True)
    (pixi / "config.toml").write_text(
        '[mirrors]\n"https://conda.anaconda.org/conda-forge" = ["https://pixi-mirror/cf"]\n')
    (tmp_path / "conda-fetch.toml").write_text(
        '[mirrors]\n"https://conda.anaconda.org/conda-forge" = ["https://own-mirror/cf"]\n')
    from conda_fetch.cli.context import Context

    args = argparse.Namespace(mirror=["conda-forge=https://cli-mirror/cf"], preset=["tuna"])
    merged = Context(args).mirrors()
    assert merged["https://conda.anaconda.org/conda-forge"] == [
        "https://cli-mirror/cf", "https://own-mirror/cf", "https://mamba-mirror/conda-forge",
        "https://pixi-mirror/cf",
    ]
    assert merged["https://conda.anaconda.org"] == [
        "https://mirrors.tuna.tsinghua.edu.cn/anaconda/cloud"]


def test_bad_mirror_spec_is_an_input_error(tmp_path, capsys) -> None:
    assert main(["get", "https://h/x-1-0.conda", "--mirror", "nonsense",
                 "--pkgs-dir", str(tmp_path / "p")]) == 2
    assert "CHANNEL=MIRROR_URL" in capsys.readouterr().err


def test_mirrors_ranks_saves_and_the_next_run_starts_on_the_fastest(
    tmp_path, fault_server, capsys
) -> None:
    package = build_package(tmp_path / "built", "alpha", payload=600_000)
    channel = build_channel(tmp_path / "channel", [package])
    # 16 KiB/s: its 64 KiB probe takes 4 s. At 64 KiB/s (1 s) a machine running the
    # benchmark beside the suite once delayed the fast mirror's probe longer than that.
    slow = fault_server(channel, Faults(throttle=16 << 10))
    fast = fault_server(channel)
    dead = refused_url()
    args = ["--mirror", f"{slow.url}={fast.url}", "--mirror", f"{slow.url}={dead}"]
    assert main(["mirrors", slow.url, *args, "--bytes", "64K", "--save", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)[slow.url]
    assert [p["base"] for p in found] == [fast.url, slow.url, dead]
    assert found[2]["error"]
    saved = own.ranking(own.load())
    assert saved[fast.url] > saved[slow.url]

    slow.reset_stats()
    records = plan_from_repodata(channel, slow.url, "noarch")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"actions": {"FETCH": records}}))
    assert main(["get", str(plan), "--pkgs-dir", str(tmp_path / "pkgs"), "-q",
                 "--mirror", f"{slow.url}={fast.url}"]) == 0
    # the slow mirror answers the cross-check of the fast one's first bytes (and, on a
    # machine so busy that the fast one's pieces crawl too, a piece of its own at most)
    assert slow.settled().bytes_sent <= 256 << 10
    assert fast.settled().bytes_sent >= records[0]["size"] - (256 << 10)
