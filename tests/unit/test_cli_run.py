"""run: the plan the tool prints is for the platform the tool was told to plan for."""

from __future__ import annotations

import pytest

from conda_fetch.cli.run import _tool_platform


@pytest.mark.parametrize(("command", "platform"), [
    (["conda", "create", "-n", "x", "numpy"], None),
    (["conda", "create", "--platform", "osx-arm64", "numpy"], "osx-arm64"),
    (["mamba", "create", "--subdir=win-64", "numpy"], "win-64"),
])
def test_the_tools_platform_flag_is_the_plans_platform(command, platform) -> None:
    assert _tool_platform(command) == platform
