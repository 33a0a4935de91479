"""A bounded fuzz test: random mutations of real plans and bundle manifests are either read
or refused with one line (InputError, exit 2), never a traceback."""

from __future__ import annotations

import io
import json
import random
import tarfile
from functools import partial
from pathlib import Path

from conda_fetch.cli import main
from conda_fetch.errors import InputError
from conda_fetch.offline.bundle import read_manifest
from conda_fetch.plan import records_from_text

CF = "https://conda.anaconda.org/conda-forge"
SHA, MD5 = "a" * 64, "b" * 32
ROUNDS = 300
RECORD = {"url": f"{CF}/linux-64/zlib-1.3.1-h1234_0.conda", "fn": "zlib-1.3.1-h1234_0.conda",
          "size": 92000, "sha256": SHA, "md5": MD5, "subdir": "linux-64"}
SEEDS = [
    json.dumps({"success": True, "actions": {"FETCH": [RECORD], "LINK": []}}, indent=1),
    f"# platform: linux-64\n@EXPLICIT\n{RECORD['url']}#{MD5}\n"
    f"{CF}/noarch/six-1.16.0-py_0.tar.bz2#sha256:{SHA}\n",
    f"version: 1\nmetadata:\n  platforms: [linux-64]\npackage:\n- name: zlib\n  manager: conda\n"
    f"  platform: linux-64\n  url: {RECORD['url']}\n  hash:\n    md5: {MD5}\n    sha256: {SHA}\n",
    f"{RECORD['url']}\n{CF}/noarch/six-1.16.0-py_0.tar.bz2\n",
]
NASTY = ["\x00", "\n", "\t", "\\", "/", "..", "&a", "*a", "{", "}", "[", "]", ":", "#", "@EXPLICIT",
         "\ufeff", "'", '"', "-", "%2F", "urls.txt", "1e999", "null", "true", "{\"x\": 1}",
         "file:///dev/zero", "https://u:p@h/", "  out=/etc/x", "é"]


def _mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(text) + 1)
        choice = rng.random()
        if choice < 0.35:
            text = text[:at] + rng.choice(NASTY) + text[at:]
        elif choice < 0.6:
            text = text[:at] + text[at + rng.randint(1, 20):]
        elif choice < 0.8:
            end = min(len(text), at + rng.randint(1, 40))
            text = text[:at] + text[at:end] * rng.randint(2, 5) + text[end:]
        else:
            text = text[:at] + chr(rng.randrange(1, 0x250)) + text[at + 1:]
    return text


def _one_line_or_records(read) -> None:  # type: ignore[no-untyped-def]
    try:
        records = read()
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert all(r.fn == r.url.rsplit("/", 1)[-1] or "%" in r.url for r in records)


def test_mutated_plans_are_read_or_refused_in_one_line() -> None:
    rng = random.Random(10)
    for round_ in range(ROUNDS):
        text = _mutate(SEEDS[round_ % len(SEEDS)], rng)
        _one_line_or_records(partial(records_from_text, text, "plan", platform="linux-64"))


def _bundle(path: Path, manifest: bytes) -> Path:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    return path


def test_mutated_bundle_manifests_are_read_or_refused_in_one_line(tmp_path) -> None:
    rng = random.Random(12)
    seed = json.dumps({"format": "conda-fetch-bundle", "version": 1, "records": [RECORD]})
    for round_ in range(ROUNDS // 3):
        path = _bundle(tmp_path / f"b{round_}.tar", _mutate(seed, rng).encode("utf-8", "replace"))
        _one_line_or_records(partial(read_manifest, path))


def test_refused_plans_exit_2_with_one_line_and_leave_the_cache_untouched(tmp_path, capsys) -> None:
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    (pkgs / "urls.txt").write_text(f"{RECORD['url']}\n")
    before = sorted((p.name, p.stat().st_size) for p in pkgs.rglob("*"))
    rng, tried = random.Random(11), 0
    for round_ in range(ROUNDS):
        text = _mutate(SEEDS[round_ % len(SEEDS)], rng)
        try:
            records_from_text(text, "plan", platform="linux-64")
        except InputError:
            pass
        else:
            continue
        plan = tmp_path / "plan.txt"
        plan.write_text(text, encoding="utf-8", errors="replace")
        assert main(["get", str(plan), "--pkgs-dir", str(pkgs), "--platform", "linux-64"]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
        tried += 1
        if tried == 40:
            break
    assert tried == 40
    assert sorted((p.name, p.stat().st_size) for p in pkgs.rglob("*")) == before
