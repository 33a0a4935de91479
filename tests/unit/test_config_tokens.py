"""anaconda.org tokens found where conda finds them: channels named with a token, the token
store, the place conda puts a stored token, and the refusal when a hidden token is nowhere."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote_plus

import pytest

from conda_fetch.config import condarc, tokens
from conda_fetch.config.tokens import MASK, TokenFinder
from conda_fetch.errors import InputError

HIDDEN = f"https://repo.example/t/{MASK}/private/noarch/pkg-1.0-0.conda"
PLAIN = "https://repo.example/private/noarch/pkg-1.0-0.conda"


def store(folder: Path, entries: dict[str, str]) -> dict[str, str]:
    """anaconda-client's layout: ``<quote_plus(url)>.token`` holding the token."""
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    for url, token in entries.items():
        (data / f"{quote_plus(url)}.token").write_text(token)
    return {"BINSTAR_CONFIG_DIR": str(folder)}


def test_token_of_tells_hidden_real_and_none() -> None:
    assert tokens.token_of(HIDDEN) == MASK
    assert tokens.token_of("https://h/t/tk-1/c/noarch/x-1-0.conda") == "tk-1"
    assert tokens.token_of(PLAIN) is None


def test_store_dir_is_binstar_config_dir_data_else_the_user_config(tmp_path: Path) -> None:
    assert tokens.store_dir({"BINSTAR_CONFIG_DIR": str(tmp_path)}) == tmp_path / "data"
    # the suite's home sets XDG_CONFIG_HOME; anaconda-client's folder lies under it
    assert tokens.store_dir({}).name == "binstar"


def test_store_reads_token_files_and_serves_api_hosts_as_conda_hosts(tmp_path: Path) -> None:
    env = store(tmp_path, {"https://api.anaconda.org": "tk-login-1",
                           "https://bad.example": "not a token!"})
    (tmp_path / "data" / "notes.txt").write_text("tk-ignored")
    found = tokens.read_store(tokens.store_dir(env))
    assert found == {"https://api.anaconda.org": "tk-login-1",
                     "https://conda.anaconda.org": "tk-login-1"}
    assert tokens.read_store(tmp_path / "missing") == {}


def test_channel_tokens_from_every_place_conda_reads() -> None:
    config = {
        "channels": ["https://a.example/t/tk-a/chan-a", "named"],
        "channel_alias": "https://alias.example/t/tk-alias",
        "default_channels": ["https://d.example/t/tk-d/main"],
        "custom_channels": {"cust": "https://c.example/t/tk-c"},
    }
    found = tokens.channel_tokens(config, ["https://cli.example/t/tk-cli/x"])
    assert found == {
        "https://cli.example/x": "tk-cli",
        "https://a.example/chan-a": "tk-a",
        "https://alias.example/named": "tk-alias",
        "https://d.example/main": "tk-d",
        "https://c.example/cust": "tk-c",
        "https://alias.example": "tk-alias",
    }


def test_hidden_token_comes_from_the_longest_configured_channel() -> None:
    config = {"channels": ["https://repo.example/t/tk-short/private",
                           "https://repo.example/t/tk-long/private/noarch"]}
    finder = TokenFinder(config, env={})
    assert finder.resolve(HIDDEN) == HIDDEN.replace(MASK, "tk-long")


def test_command_line_channel_wins_over_condarc() -> None:
    finder = TokenFinder({"channels": ["https://repo.example/t/tk-rc/private"]},
                         ["https://repo.example/t/tk-cli/private"], env={})
    assert finder.resolve(HIDDEN) == HIDDEN.replace(MASK, "tk-cli")


def test_hidden_token_from_the_store_when_no_channel_has_one(tmp_path: Path) -> None:
    env = store(tmp_path, {"https://repo.example": "tk-stored"})
    assert TokenFinder({}, env=env).resolve(HIDDEN) == HIDDEN.replace(MASK, "tk-stored")


def test_hidden_token_found_nowhere_is_one_line_naming_plan_and_channel(tmp_path: Path) -> None:
    env = store(tmp_path, {"https://elsewhere.example": "tk-other"})
    finder = TokenFinder({"channels": ["https://repo.example/t/tk-x/public"]}, env=env)
    assert finder.resolve(HIDDEN) is None
    with pytest.raises(InputError) as error:
        finder.resolve_all([PLAIN, HIDDEN], "plan.json")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("plan.json: conda hid the token of channel "
                              f"https://repo.example/t/{MASK}/private in its plan")
    assert "anaconda login" in message and "24.11" in message and ".condarc" in message


def test_channel_prefix_counts_whole_segments_only() -> None:
    finder = TokenFinder({"channels": ["https://repo.example/t/tk-x/priv"]}, env={})
    assert finder.resolve(HIDDEN) is None  # "priv" is not a prefix of "private/..."


def test_stored_token_is_added_after_the_host(tmp_path: Path) -> None:
    env = store(tmp_path, {"https://repo.example": "tk-stored"})
    assert (TokenFinder({}, env=env).resolve(PLAIN)
            == "https://repo.example/t/tk-stored/private/noarch/pkg-1.0-0.conda")


def test_stored_token_goes_where_conda_puts_it(tmp_path: Path) -> None:
    env = store(tmp_path, {"https://repo.example": "tk-s"})
    config = {"custom_channels": {"private": "https://repo.example/mirror"},
              "channel_alias": "https://repo.example/alias"}
    finder = TokenFinder(config, env=env)
    assert (finder.resolve("https://repo.example/mirror/private/noarch/p-1-0.conda")
            == "https://repo.example/mirror/t/tk-s/private/noarch/p-1-0.conda")
    assert (finder.resolve("https://repo.example/alias/chan/noarch/p-1-0.conda")
            == "https://repo.example/alias/t/tk-s/chan/noarch/p-1-0.conda")
    assert (finder.resolve("https://repo.example/conda/chan/noarch/p-1-0.conda")
            == "https://repo.example/conda/t/tk-s/chan/noarch/p-1-0.conda")


def test_stored_token_never_goes_to_another_host_or_a_url_with_a_token(tmp_path: Path) -> None:
    env = store(tmp_path, {"https://repo.example": "tk-stored"})
    finder = TokenFinder({}, env=env)
    other = "https://repo.example.evil/private/noarch/pkg-1.0-0.conda"
    own = "https://repo.example/t/tk-own/private/noarch/pkg-1.0-0.conda"
    local = "file:///repo.example/private/noarch/pkg-1.0-0.conda"
    assert [finder.resolve(url) for url in (other, own, local)] == [other, own, local]


@pytest.mark.parametrize("setting", [{"add_anaconda_token": False},
                                     {"add_anaconda_token": "no"}])
def test_add_anaconda_token_false_adds_no_stored_token(tmp_path: Path, setting: dict) -> None:
    env = store(tmp_path, {"https://repo.example": "tk-stored"})
    finder = TokenFinder(setting, env=env)
    assert finder.resolve(PLAIN) == PLAIN
    assert finder.resolve(HIDDEN) is None


def test_add_anaconda_token_from_the_environment(tmp_path: Path) -> None:
    config = condarc.load_condarc({"CONDA_ADD_ANACONDA_TOKEN": "false"}, paths=[])
    assert condarc.add_anaconda_token(config) is False
    assert condarc.add_anaconda_token({}) is True
