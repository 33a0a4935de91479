"""The conda plugin: its logic on plain records and a cache path, and its conda-facing layer
where conda is importable."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from conda_fetch.cache.urls import read_urls
from conda_fetch.engine import Options, make_session
from conda_fetch.hashing import file_digest
from conda_fetch.plugin.prefetch import (
    Failures,
    PluginSettings,
    downloads_of,
    hint,
    prefetch,
    records_from_precs,
)
from conda_fetch.testing.faultserver import Faults
from support.channel import plan_from_repodata

FAST = PluginSettings(retries=1, stall_timeout=1.0, min_split=1 << 20)


def test_settings_from_conda_values() -> None:
    settings = PluginSettings.from_mapping(
        {"fetch_enabled": "false", "fetch_min_split": "8M", "fetch_files": None,
         "fetch_mirrors": {"https://conda.anaconda.org/conda-forge": ["https://m/cf"]}},
        fetch_threads=3)
    assert not settings.enabled
    assert settings.min_split == 8 << 20 and settings.files == 3
    assert settings.split == Options.split  # unset: the engine's default
    assert settings.mirrors == {"https://conda.anaconda.org/conda-forge": ["https://m/cf"]}
    assert settings.options().connections >= 3


def test_records_from_conda_records() -> None:
    precs = [SimpleNamespace(url="https://c/noarch/a-1-0.conda", fn="a-1-0.conda", size=3,
                             sha256="a" * 64, md5="b" * 32),
             SimpleNamespace(url=None, fn="local-1-0.conda", size=1, sha256=None, md5=None)]
    records = records_from_precs(precs)
    assert [(r.fn, r.size, r.sha256) for r in records] == [("a-1-0.conda", 3, "a" * 64)]


def test_downloads_are_what_conda_would_fetch_over_the_network(tmp_path) -> None:
    # the fields of conda's CacheUrlAction; None is "nothing to fetch", file:// a copy
    # from another (read-only) cache
    action = SimpleNamespace(url="https://c/noarch/a-1-0.conda", target_pkgs_dir=str(tmp_path),
                             target_package_basename="a-1-0.conda", size=3, sha256="a" * 64,
                             md5="b" * 32)
    copy = SimpleNamespace(url="file:///ro/pkgs/b-1-0.conda", target_pkgs_dir=str(tmp_path),
                           target_package_basename="b-1-0.conda", size=1, sha256=None, md5=None)
    wanted = downloads_of([action, None, copy])
    assert list(wanted) == [tmp_path]
    assert [(r.url, r.fn, r.size, r.md5) for r in wanted[tmp_path]] == [
        ("https://c/noarch/a-1-0.conda", "a-1-0.conda", 3, "b" * 32)]


def test_prefetch_fills_the_cache_conda_will_read(tmp_path, channel, fault_server) -> None:
    server = fault_server(channel, Faults(cut_every=1 << 20))
    precs = [SimpleNamespace(**r) for r in plan_from_repodata(channel, server.url, "noarch")]
    pkgs = tmp_path / "pkgs"
    report = prefetch(records_from_precs(precs), pkgs, make_session(), FAST)
    assert report.ok and len(report.fetched) == 2
    urls = read_urls(pkgs)
    for prec in precs:
        assert file_digest(pkgs / prec.fn, "sha256") == prec.sha256
        assert urls[prec.fn] == prec.url
    again = prefetch(records_from_precs(precs), pkgs, make_session(), FAST)
    assert not again.fetched and len(again.cached) == 2


def test_hint_names_the_files_and_the_way_out(tmp_path, channel, fault_server) -> None:
    server = fault_server(channel, Faults(fail_status={"gamma-1.0-0.conda": 404}))
    records = plan_from_repodata(channel, server.url_for("t/tok-123"), "noarch")
    report = prefetch(records_from_precs(SimpleNamespace(**r) for r in records),
                      tmp_path / "pkgs", make_session(), FAST)
    assert not report.ok
    text = hint(report)
    gamma = next(r for r in records if r["name"] == "gamma")
    assert gamma["fn"] in text and gamma["sha256"] in text
    assert "conda fetch export" in text and "conda fetch import" in text
    assert "tok-123" not in text


def test_failures_are_told_once_and_only_while_missing(tmp_path, channel, fault_server) -> None:
    server = fault_server(channel, Faults(fail_status={"gamma-1.0-0.conda": 404}))
    records = plan_from_repodata(channel, server.url, "noarch")
    pkgs = tmp_path / "pkgs"
    failures = Failures()
    failures.add(prefetch(records_from_precs(SimpleNamespace(**r) for r in records), pkgs,
                          make_session(), FAST), pkgs)
    text = failures.hint_for("CondaHTTPError: 404")
    assert text is not None and "gamma-1.0-0.conda" in text and "alpha" not in text
    assert failures.hint_for("CondaHTTPError: 404") is None  # the same error printed again
    assert failures.leftover() is None  # already told
    late = Failures()
    late.failed = list(failures.failed)
    (pkgs / "gamma-1.0-0.conda").write_bytes(b"conda got it itself")
    assert late.leftover() is None and late.hint_for("other") is None


def test_plugin_is_registered_but_never_imported_without_conda() -> None:
    names = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="conda")}
    assert names.get("conda-fetch") == "conda_fetch.plugin.hooks"
    probe = ("import sys, conda_fetch.cli, conda_fetch.pipeline, conda_fetch.plugin.prefetch;"
             "print('conda_fetch.plugin.hooks' in sys.modules, 'conda' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


NO_CONDA = ("conda is not installed here (it is not on the registries CI reaches); the hooks "
            "are tested where conda is")


def test_conda_facing_hooks(monkeypatch) -> None:
    pytest.importorskip("conda.plugins", reason=NO_CONDA)
    from conda_fetch.plugin import hooks

    assert [s.name for s in hooks.conda_subcommands()] == ["fetch"]
    assert {c.name for c in hooks.conda_pre_commands()} == {"conda-fetch"}
    pfe = hooks._pfe()
    if pfe is not None:
        monkeypatch.setattr(pfe, "execute", pfe.execute)  # unwrapped again after the test
    hooks._wrap_execute()
    assert pfe is None or getattr(pfe.execute, hooks.MARK)
    hooks._wrap_execute()  # idempotent
    assert pfe is None or getattr(pfe.execute, hooks.MARK)


@pytest.fixture
def conda_pkgs(tmp_path) -> Iterator[Path]:
    """Real conda with no configuration (no .condarc, no CONDA_* variables) but an empty package
    cache in ``tmp_path``; conda's ``ProgressiveFetchExtract.execute``, its context and its
    cache objects are restored afterwards."""
    pytest.importorskip("conda.core.package_cache_data", reason=NO_CONDA)
    from conda.base.context import reset_context
    from conda.core.package_cache_data import PackageCacheData, ProgressiveFetchExtract

    pkgs = tmp_path / "pkgs"
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("CONDA_")]:
            patch.delenv(name)
        patch.setenv("CONDA_PKGS_DIRS", str(pkgs))
        patch.setattr(ProgressiveFetchExtract, "execute", ProgressiveFetchExtract.execute)
        reset_context(())  # no .condarc from this machine
        PackageCacheData.clear()
        yield pkgs
    reset_context()
    PackageCacheData.clear()


@pytest.mark.parametrize("given", ["solved records", "explicit specs"])
def test_conda_fetches_through_the_engine(given, conda_pkgs, channel, fault_server) -> None:
    """conda's own ProgressiveFetchExtract, wrapped by our pre-command hook as conda invokes it,
    gets every file through cuts every 1 MiB (conda alone fails at the first cut) and extracts
    them. Solved records are what install/create pass; specs are what an @EXPLICIT file gives."""
    from conda.base.context import context
    from conda.core.package_cache_data import ProgressiveFetchExtract
    from conda.models.match_spec import MatchSpec
    from conda.models.records import PackageRecord

    server = fault_server(channel, Faults(cut_every=1 << 20))
    records = plan_from_repodata(channel, server.url, "noarch")
    wanted = ([PackageRecord(**r) for r in records] if given == "solved records"
              else [MatchSpec(r["url"], md5=r["md5"]) for r in records])
    context.plugin_manager.invoke_pre_commands("install")
    ProgressiveFetchExtract(wanted).execute()
    urls = read_urls(conda_pkgs)
    for record in records:
        assert file_digest(conda_pkgs / record["fn"], "sha256") == record["sha256"]
        assert (conda_pkgs / record["fn"].removesuffix(".conda") / "info/index.json").is_file()
        assert urls[record["fn"]] == record["url"]
    assert server.stats.per_path["/noarch/gamma-1.0-0.conda"] >= 3  # ranged, through 2 cuts


class Declined(Exception):
    """What conda's confirm raises on a no (or under --dry-run)."""


def test_conda_doctor_fix_is_conda_fetch_doctor_fix(conda_pkgs, channel, fault_server,
                                                    monkeypatch) -> None:
    """The health check's fixer registers an archive conda would download again, verified
    against the user's channels, only once conda's confirm lets it."""
    from conda_fetch.plugin import hooks

    server = fault_server(channel)
    (conda_pkgs.parent / "condarc").write_text(f"channels:\n  - {server.url}\n")
    monkeypatch.setenv("CONDARC", str(conda_pkgs.parent / "condarc"))
    records = plan_from_repodata(channel, server.url, "noarch")
    alpha = next(r for r in records if r["name"] == "alpha")
    conda_pkgs.mkdir()
    (conda_pkgs / alpha["fn"]).write_bytes((channel / "noarch" / alpha["fn"]).read_bytes())

    def decline(message: str) -> None:
        raise Declined(message)

    with pytest.raises(Declined, match=str(conda_pkgs)):
        hooks._fix("prefix", SimpleNamespace(), decline)
    assert alpha["fn"] not in read_urls(conda_pkgs)
    assert hooks._fix("prefix", SimpleNamespace(), lambda message: None) == 0
    assert read_urls(conda_pkgs)[alpha["fn"]] == alpha["url"]
    assert hooks._fix("prefix", SimpleNamespace(), decline) == 0  # nothing left to confirm


def test_hooks_match_this_condas_hookspecs() -> None:
    """Every hook conda defines is implemented with its argument names; the others are optional
    (a newer conda's) and every hook that runs here yields conda's own types."""
    pytest.importorskip("conda.plugins", reason=NO_CONDA)
    from conda.plugins.hookspec import CondaSpecs
    from conda.plugins.manager import CondaPluginManager

    from conda_fetch.plugin import hooks

    manager = CondaPluginManager()
    manager.add_hookspecs(CondaSpecs)
    manager.register(hooks, name="conda-fetch-test")
    manager.check_pending()  # raises for a non-optional hook conda does not define
    specs = {name for name in dir(CondaSpecs) if name.startswith("conda_")}
    results = {name: [item for gen in getattr(manager.hook, name)() for item in gen]
               for name in ("conda_subcommands", "conda_pre_commands", "conda_health_checks",
                            "conda_settings", "conda_post_solves") if name in specs}
    assert [s.name for s in results["conda_subcommands"]] == ["fetch"]
    assert all(results.values())
    [check] = results["conda_health_checks"]
    assert getattr(check, "fixer", hooks._fix) is hooks._fix  # where conda has fixers (≥ 26.5)
    if "conda_error_hints" in specs:  # nothing failed: no hint
        assert not [h for gen in manager.hook.conda_error_hints(error=RuntimeError("x"))
                    for h in gen]
