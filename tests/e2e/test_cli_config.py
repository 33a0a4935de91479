"""Settings in one command: ``mirrors --save`` keeps mirrors and presets that later runs use;
``config`` shows, locates and sets the file."""

from __future__ import annotations

import socket
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from conda_fetch.cli import main
from conda_fetch.config import own
from conda_fetch.engine import make_session
from conda_fetch.plan.records import make_record
from conda_fetch.plugin.prefetch import PluginSettings, prefetch
from conda_fetch.testing.packages import build_package


def _closed_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_saved_mirror_serves_a_later_get(tmp_path, fault_server, capsys) -> None:
    root = tmp_path / "srv"
    built = build_package(root / "ch" / "noarch", "alpha", payload=50_000)
    (root / "ch" / "noarch" / "repodata.json").write_text("{}")
    mirror = fault_server(root).url + "/ch"
    channel = _closed_url() + "/ch"
    assert main(["mirrors", channel, "--mirror", f"{channel}={mirror}", "--preset", "tuna",
                 "--save", "--bytes", "1k"]) == 0
    err = capsys.readouterr().err
    assert "saved 1 mirror, preset tuna" in err and str(own.config_path()) in err
    assert "connection refused" in err
    saved = tomllib.loads(own.config_path().read_text())
    assert saved["mirrors"] == {channel: [mirror]} and saved["presets"] == ["tuna"]
    pkgs = tmp_path / "pkgs"
    url = f"{channel}/noarch/{built.fn}#sha256:{built.sha256}"
    (tmp_path / "plan.txt").write_text(f"@EXPLICIT\n{url}\n")
    assert main(["get", str(tmp_path / "plan.txt"), "--pkgs-dir", str(pkgs), "-q",
                 "--connect-timeout", "2"]) == 0
    assert (pkgs / built.fn).read_bytes() == built.path.read_bytes()


def test_config_path_show_and_set(capsys) -> None:
    path = own.config_path()
    assert main(["config", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(path)
    assert main(["config"]) == 0
    assert f"conda-fetch settings: {path} (not created yet)" in capsys.readouterr().err
    assert main(["config", "set", "presets", "tuna", "bfsu"]) == 0
    assert main(["config", "set", "mirrors", "conda-forge", "https://m.example/cf/"]) == 0
    captured = capsys.readouterr()
    assert 'presets = ["tuna", "bfsu"]' in captured.out
    assert '"https://conda.anaconda.org/conda-forge" = ["https://m.example/cf"]' in captured.out
    assert main(["config", "set", "presets"]) == 0
    assert "presets" not in tomllib.loads(path.read_text())


def test_config_set_refuses_what_it_cannot_keep(capsys) -> None:
    assert main(["config", "set", "presets", "nowhere"]) == 2
    assert main(["config", "set", "colour", "red"]) == 2
    assert main(["config", "set", "mirrors", "conda-forge", "not-a-url"]) == 2
    assert "unknown key 'colour'" in capsys.readouterr().err
    assert not own.config_path().exists()


def test_the_plugin_uses_the_settings_file_too(tmp_path, fault_server) -> None:
    root = tmp_path / "srv"
    built = build_package(root / "ch" / "noarch", "alpha", payload=50_000)
    mirror = fault_server(root).url + "/ch"
    channel = _closed_url() + "/ch"
    assert main(["config", "set", "mirrors", channel, mirror]) == 0
    record = make_record(f"{channel}/noarch/{built.fn}", sha256=built.sha256)
    report = prefetch([record], tmp_path / "pkgs", make_session(), PluginSettings(retries=1))
    assert report.ok and (tmp_path / "pkgs" / built.fn).read_bytes() == built.path.read_bytes()
