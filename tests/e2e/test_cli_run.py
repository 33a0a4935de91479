"""``run`` takes ``env create/update -f environment.yml``: it plans the file's channels and
dependencies with the tool's own dry run, fetches, then runs the command as given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conda_fetch.cli import main
from conda_fetch.cli.run import plan_command
from support.channel import plan_from_repodata


def _stand_in(tmp_path: Path, tool: str, plan: list[dict], pkgs: Path) -> Path:
    """A fake tool: ``info --json`` names its cache, ``--dry-run`` logs its arguments and
    prints the plan, anything else logs itself and succeeds if the cache holds the plan."""
    (tmp_path / "info.json").write_text(json.dumps({"pkgs_dirs": [str(pkgs)]}))
    (tmp_path / "plan.json").write_text(json.dumps({"success": True,
                                                    "actions": {"FETCH": plan}}))
    checks = " && ".join(f'test -f "{pkgs / r["fn"]}"' for r in plan)
    exe = tmp_path / "bin" / tool
    exe.parent.mkdir(exist_ok=True)
    exe.write_text(
        "#!/bin/sh\n"
        f'case "$*" in info*) cat "{tmp_path}/info.json"; exit 0;;\n'
        f'  *--dry-run*) echo "$*" > "{tmp_path}/planned"; cat "{tmp_path}/plan.json"; exit 0;;\n'
        "esac\n"
        f'{checks} && echo "$*" > "{tmp_path}/ran"\n'
    )
    exe.chmod(0o755)
    return exe


@pytest.mark.parametrize("action", ["create", "update"])
def test_env_create_from_environment_yml(tmp_path, channel, fault_server, monkeypatch, capsys,
                                         action) -> None:
    server = fault_server(channel)
    plan = plan_from_repodata(channel, server.url, "noarch")
    pkgs = tmp_path / "pkgs"
    exe = _stand_in(tmp_path, "conda", plan, pkgs)
    (tmp_path / "environment.yml").write_text(
        f"\ufeffname: paper\nchannels:\n  - {server.url}\n  - nodefaults\n"
        "dependencies:\n  - python=3.12\n  - alpha\n  - pip:\n    - torch\n")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--stall-timeout", "1", "--", str(exe), "env", action,
                 "-f", "environment.yml"]) == 0
    planned = (tmp_path / "planned").read_text().split()
    assert planned[:3] == ["create", "--dry-run", "--json"]
    assert planned[5:] == ["-c", server.url, "--override-channels", "python=3.12", "alpha"]
    assert not Path(planned[4]).exists(), "the dry run's prefix is a scratch path"
    assert (tmp_path / "ran").read_text().split() == ["env", action, "-f", "environment.yml"]
    err = capsys.readouterr().err
    assert "Asking conda for its plan: create --dry-run --json" in err
    assert "noarch/repodata.json" in err and "could not" not in err  # the index came first


def test_micromamba_create_file_is_planned_as_given() -> None:
    command = ["micromamba", "create", "-f", "environment.yml"]
    assert plan_command(command, Path("unused")) == [*command, "--dry-run", "--json"]


@pytest.mark.parametrize("words, message", [
    (["conda", "env", "export"], "env create/update"),
    (["conda", "list"], "'list'"),
])
def test_commands_that_install_nothing_are_refused(capsys, words, message) -> None:
    assert main(["run", "--", *words]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_environment_file_is_named(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--", "conda", "env", "create"]) == 2
    assert "environment.yml: cannot read" in capsys.readouterr().err
