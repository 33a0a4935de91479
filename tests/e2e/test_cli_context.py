"""Without conda on PATH, a command says which package cache it fills and why."""

from __future__ import annotations

from pathlib import Path

from conda_fetch.cli import main

PLAN = "@EXPLICIT\nhttps://example.org/noarch/a-1-0.conda\n"


def _export_without_conda(tmp_path: Path, monkeypatch, capsys) -> str:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.delenv("CONDA_EXE", raising=False)
    plan = tmp_path / "plan.txt"
    plan.write_text(PLAN)
    assert main(["export", str(plan)]) == 0
    return capsys.readouterr().err


def test_no_conda_names_the_cache_and_the_reason(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("CONDA_ROOT", raising=False)
    err = _export_without_conda(tmp_path, monkeypatch, capsys)
    home_cache = Path.home() / ".conda" / "pkgs"
    assert (f"conda is not on PATH: using the package cache {home_cache} (conda's default "
            f"for this user); give --pkgs-dir") in err


def test_pkgs_dirs_setting_is_named_as_the_reason(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CONDA_PKGS_DIRS", str(tmp_path / "mine"))
    err = _export_without_conda(tmp_path, monkeypatch, capsys)
    assert f"package cache {tmp_path / 'mine'} (pkgs_dirs of your conda settings)" in err
