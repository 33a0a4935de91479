"""conda's configuration read without conda: search path, merge order, env, errors, accessors."""

from __future__ import annotations

from pathlib import Path

import pytest

from conda_fetch.config import condarc
from conda_fetch.errors import InputError


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def local_search_path(env: dict[str, str], tmp_path: Path) -> list[Path]:
    """conda's search path without the machine-wide entries, so tests never read them."""
    return [p for p in condarc.search_path(env) if tmp_path in p.parents]


def test_search_path_follows_conda_order(tmp_path: Path, home: Path) -> None:
    env = {
        "HOME": str(home),
        "CONDA_ROOT": str(tmp_path / "root"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "CONDA_PREFIX": str(tmp_path / "env"),
        "CONDARC": str(tmp_path / "custom.yml"),
    }
    bases = [tmp_path / "root", tmp_path / "xdg" / "conda", home / ".config" / "conda",
             home / ".conda"]
    expected = [b / name for b in bases for name in (".condarc", "condarc", "condarc.d")]
    expected.append(home / ".condarc")
    expected += [tmp_path / "env" / n for n in (".condarc", "condarc", "condarc.d")]
    expected.append(tmp_path / "custom.yml")
    assert local_search_path(env, tmp_path) == expected


def test_search_path_leaves_out_unset_variables_and_duplicates(home: Path) -> None:
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "CONDARC": str(home / ".condarc")}
    paths = condarc.search_path(env)
    assert not any("$" in str(p) for p in paths)
    assert len(paths) == len(set(paths))
    assert paths[-1] == home / ".condarc"


def test_root_prefix_from_conda_exe_two_levels_up(tmp_path: Path) -> None:
    exe = tmp_path / "miniforge" / "bin" / "conda"
    assert condarc.root_prefix({"CONDA_EXE": str(exe)}) == tmp_path / "miniforge"
    assert condarc.root_prefix({"MAMBA_ROOT_PREFIX": "/m", "CONDA_EXE": str(exe)}) == Path("/m")
    assert condarc.root_prefix({}) is None


def test_later_files_win_scalars_and_lead_lists(tmp_path: Path, home: Path) -> None:
    env = {"HOME": str(home), "CONDARC": str(tmp_path / "site.yml")}
    write(home / ".conda" / "condarc",
          "ssl_verify: false\nfetch_threads: 2\npkgs_dirs: [/a, /b]\n"
          "proxy_servers: {http: 'http://low:1', https: 'http://low:2'}\n")
    write(home / ".condarc", "fetch_threads: 3\npkgs_dirs: [/c, /a]\n")
    write(tmp_path / "site.yml", "proxy_servers: {https: 'http://high:2'}\n")
    config = condarc.load_condarc(env, paths=local_search_path(env, tmp_path))
    assert config["ssl_verify"] is False
    assert condarc.fetch_threads(config) == 3
    assert condarc.pkgs_dirs(config) == [Path("/c"), Path("/a"), Path("/b")]
    assert condarc.proxy_servers(config) == {"http": "http://low:1", "https": "http://high:2"}


def test_condarc_d_reads_yaml_files_in_name_order(tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "condarc.d"
    write(folder / "20-second.yaml", "channel_alias: https://second.example\n")
    write(folder / "10-first.yml", "channel_alias: https://first.example\nfetch_threads: 7\n")
    write(folder / "30-ignored.txt", "channel_alias: https://ignored.example\n")
    config = condarc.load_condarc({"HOME": str(home)}, paths=[folder])
    assert condarc.channel_alias(config) == "https://second.example"
    assert condarc.fetch_threads(config) == 7


def test_environment_beats_files(tmp_path: Path, home: Path) -> None:
    rc = write(tmp_path / ".condarc", "pkgs_dirs: [/file, /both]\nssl_verify: true\n")
    env = {"HOME": str(home), "CONDA_PKGS_DIRS": "/env, /both", "CONDA_SSL_VERIFY": "false",
           "CONDA_REMOTE_READ_TIMEOUT_SECS": "120"}
    config = condarc.load_condarc(env, paths=[rc])
    assert condarc.pkgs_dirs(config) == [Path("/env"), Path("/both"), Path("/file")]
    assert condarc.ssl_verify(config) is False
    assert condarc.remote_timeouts(config) == (9.15, 120.0)


def test_home_and_variables_are_expanded(tmp_path: Path, home: Path) -> None:
    rc = write(tmp_path / ".condarc",
               "pkgs_dirs: ['~/pkgs', '$CACHE/a', '${CACHE}/b', '$NOT_SET/c']\n"
               "proxy_servers: {https: 'http://$PROXY_HOST:3128'}\n"
               "client_ssl_cert: ~/certs/me.pem\n")
    env = {"HOME": str(home), "CACHE": "/big", "PROXY_HOST": "proxy.lan"}
    config = condarc.load_condarc(env, paths=[rc])
    assert condarc.pkgs_dirs(config) == [home / "pkgs", Path("/big/a"), Path("/big/b"),
                                         Path("$NOT_SET/c")]
    assert condarc.proxy_servers(config) == {"https": "http://proxy.lan:3128"}
    assert condarc.client_cert(config) == str(home / "certs" / "me.pem")


@pytest.mark.parametrize(
    ("text", "line"),
    [("channels:\n  - conda-forge\npkgs_dirs: [/a, /b\nssl_verify: true\n", 4),
     ("fetch_threads: 3\n  ssl_verify: false\n", 2),
     ("a: 1\nb: 2\na: 3\n", 3),
     ("ok: 1\nbad: \"\x00\"\n", 2)],
)
def test_malformed_file_names_file_and_line(tmp_path: Path, text: str, line: int) -> None:
    rc = write(tmp_path / "broken" / ".condarc", text)
    with pytest.raises(InputError) as caught:
        condarc.load_condarc({}, paths=[rc])
    message = str(caught.value)
    assert str(rc) in message
    assert f"line {line}" in message
    assert "\n" not in message


def test_non_mapping_file_is_an_input_error(tmp_path: Path) -> None:
    rc = write(tmp_path / ".condarc", "- just\n- a list\n")
    with pytest.raises(InputError, match="expected a mapping"):
        condarc.load_condarc({}, paths=[rc])


def test_empty_file_and_missing_paths_give_defaults(tmp_path: Path) -> None:
    empty = write(tmp_path / ".condarc", "# nothing here\n")
    config = condarc.load_condarc({}, paths=[empty, tmp_path / "absent"])
    assert config == {}
    assert condarc.pkgs_dirs(config) == []
    assert condarc.proxy_servers(config) == {}
    assert condarc.ssl_verify(config) is True
    assert condarc.client_cert(config) is None
    assert condarc.remote_timeouts(config) == (9.15, 60.0)
    assert condarc.fetch_threads(config) == 5
    assert condarc.channel_alias(config) == "https://conda.anaconda.org"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("False", False), ("no", False), ("true", True),
     ("truststore", True), ("/etc/ssl/ca.pem", "/etc/ssl/ca.pem")],
)
def test_ssl_verify_values(value: object, expected: object) -> None:
    assert condarc.ssl_verify({"ssl_verify": value}) == expected


def test_client_cert_with_key() -> None:
    config = {"client_ssl_cert": "/c.pem", "client_ssl_cert_key": "/k.pem"}
    assert condarc.client_cert(config) == ("/c.pem", "/k.pem")


def test_channel_alias_drops_trailing_slash() -> None:
    assert condarc.channel_alias({"channel_alias": "https://mirror.lan/conda/"}) == (
        "https://mirror.lan/conda"
    )


@pytest.mark.parametrize("value", ["soon", 0, -1, True])
def test_bad_numbers_are_input_errors(value: object) -> None:
    with pytest.raises(InputError, match="fetch_threads"):
        condarc.fetch_threads({"fetch_threads": value})


def test_files_conda_ignores_by_name_are_ignored(tmp_path: Path, home: Path) -> None:
    """conda reads ``$CONDARC`` only when named .condarc/condarc or .yml/.yaml."""
    write(tmp_path / "condarc3", "channel_alias: https://ignored.example\n")
    write(tmp_path / "condarc", "ssl_verify: false\n")
    env = {"HOME": str(home), "CONDARC": str(tmp_path / "condarc3")}
    assert condarc.channel_alias(condarc.load_condarc(env)) == "https://conda.anaconda.org"
    env["CONDARC"] = str(tmp_path / "condarc")
    assert condarc.load_condarc(env)["ssl_verify"] is False
