"""Commands end with the next step: bundle says how to import it, importing a bundle ends
with the install command (after every file's line), the demo with "your own plan"."""

from __future__ import annotations

import json

from conda_fetch.cli import demo as demo_command
from conda_fetch.cli import main
from conda_fetch.testing import demo as sample
from conda_fetch.testing.faultserver import Faults
from support.channel import plan_from_repodata


def test_bundle_then_import_end_with_what_to_do_next(tmp_path, channel, fault_server,
                                                      capsys) -> None:
    server = fault_server(channel)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"actions": {"FETCH": plan_from_repodata(channel, server.url,
                                                                        "noarch")}}))
    bundle = tmp_path / "work.tar"
    assert main(["bundle", str(plan), "-o", str(bundle), "--pkgs-dir",
                 str(tmp_path / "online")]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[-3:-1] == ["Next: copy it to the offline machine; with conda-fetch installed "
                            "there, run", "  conda-fetch import work.tar"]
    assert main(["import", str(bundle), "--pkgs-dir", str(tmp_path / "offline")],
                prog="conda fetch") == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[-2] == "Next: work.tar's packages are in the cache; install the environment with"
    assert lines[-1].startswith("  conda create -n ENV --offline --file ")
    assert lines[-3].startswith("2 adopted, 0 already present, 0 refused")


def test_demo_ends_with_your_own_plan_and_no_removed_path(monkeypatch, capsys) -> None:
    monkeypatch.setattr(demo_command, "build_channel",
                        lambda root: sample.build_channel(root, [("demo-tiny", 200_000)]))
    monkeypatch.setattr(demo_command, "demo_faults", lambda: Faults(cut_every=64_000))
    assert main(["demo"]) == 0
    err = capsys.readouterr().err
    assert "  → a temporary package cache, removed at the end" in err
    assert "conda-fetch-demo-" not in err
    assert err.splitlines()[-3:] == ["Now try it on your own plan:",
                                     "  conda create -n try numpy --dry-run --json > plan.json",
                                     "  conda-fetch get plan.json"]
