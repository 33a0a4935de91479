"""Which platform a plan is for, and the rule that it must be the target's."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence

from conda_fetch.errors import InputError
from conda_fetch.plan.records import Record, subdir_of

NOARCH = "noarch"
_PLATFORM = re.compile(r"(?:linux|osx|win|zos|freebsd|emscripten|wasi)-[a-z0-9_]+")
_HEADER = re.compile(r"#\s*platform:\s*(\S+)\s*$", re.MULTILINE)


def current_subdir() -> str:
    """This machine's conda platform, such as ``linux-64`` or ``osx-arm64``."""
    system = {"linux": "linux", "darwin": "osx", "win32": "win"}.get(sys.platform, sys.platform)
    machine = _machine().lower()
    arch = {"x86_64": "64", "amd64": "64", "arm64": "arm64", "aarch64": "aarch64",
            "ppc64le": "ppc64le", "s390x": "s390x"}.get(machine, machine)
    if system == "linux" and arch == "arm64":
        arch = "aarch64"
    if system in ("osx", "win") and arch == "aarch64":
        arch = "arm64"
    return f"{system}-{arch}"


def _machine() -> str:
    """The processor, as ``platform.machine()`` names it (without importing it where the
    system says it)."""
    if hasattr(os, "uname"):
        return os.uname().machine
    import platform

    return platform.machine()


def target_platform(explicit: str | None = None) -> str:
    """The platform packages are fetched for: ``--platform``, else ``CONDA_SUBDIR``, else
    this machine's."""
    return explicit or os.environ.get("CONDA_SUBDIR") or current_subdir()


def plan_platforms(text: str, records: Sequence[Record]) -> set[str]:
    """The platforms a plan names: an explicit file's ``# platform:`` header and the
    subdirs of its records' URLs (``noarch`` and folders of other names aside)."""
    named = {m.group(1) for m in _HEADER.finditer(text[:4096])}
    folders: dict[str, str] = {}  # a record's subdir depends only on what its last "/" ends
    for record in records:
        folder = record.url.rpartition("/")[0]
        if folder not in folders:
            folders[folder] = subdir_of(record.url)
    named.update(folders.values())
    return {p for p in named if _PLATFORM.fullmatch(p)}


def check_platform(text: str, records: Sequence[Record], source: str, target: str) -> None:
    """Refuse a plan for another platform than ``target``: its archives may share file
    names with the target's (``python_abi-3.12-5_cp312.conda``) and hold other bytes."""
    others = sorted(plan_platforms(text, records) - {target})
    if others:
        raise InputError(f"{source}: the plan is for {', '.join(others)}, the target is {target}; "
                         f"use --platform {others[0]} (or CONDA_SUBDIR={others[0]}) to fetch it")
