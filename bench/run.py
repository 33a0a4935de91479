"""Benchmark: conda-fetch against a one-connection downloader and aria2c on loopback.

Not a test. Each scenario starts the project's fault-injecting server in its own
process, runs each tool as its own process against it, and reports wall time,
bytes the server sent, success and (for conda-fetch) peak memory, then each
target of the issues with its measured value, met or MISSED. Run:

    python bench/run.py               # every scenario
    python bench/run.py throttle cut  # only some
    python bench/run.py --repeat 3    # three times, to see the spread
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from conda_fetch.engine.partfile import saved

MiB = 1 << 20
BIG = [("big-1.0-0.conda", 64 * MiB)]
SMALL = [(f"pkg{i:03d}-1.0-0.conda", 20_000 + 997 * i) for i in range(200)]


@dataclass
class Result:
    tool: str
    seconds: float
    sent: int
    ok: bool
    peak_mb: float | None = None


@dataclass
class Target:
    """One figure an issue asks for: ``value`` must be at least (or at most) ``limit``."""

    name: str
    value: float
    limit: float
    at_least: bool
    unit: str = "x"
    ok: bool = True

    @property
    def met(self) -> bool:
        within = self.value >= self.limit if self.at_least else self.value <= self.limit
        return self.ok and within

    def __str__(self) -> str:
        sign = ">=" if self.at_least else "<="
        value = f"{self.value:+.1%}" if self.unit == "%" else f"{self.value:.2f}{self.unit}"
        limit = f"{self.limit:+.0%}" if self.unit == "%" else f"{self.limit:g}{self.unit}"
        return f"{self.name}: {value} (target {sign} {limit}) {'met' if self.met else 'MISSED'}"


Rows = list[tuple[str, Result]]


def make_files(root: Path, files: list[tuple[str, int]]) -> dict[str, str]:
    """Random files of the given sizes; returns their sha256."""
    digests = {}
    for name, size in files:
        path = root / "noarch" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with open(path, "wb") as out:
            left = size
            while left:
                block = os.urandom(min(left, 8 * MiB))
                out.write(block)
                digest.update(block)
                left -= len(block)
        digests[name] = digest.hexdigest()
    return digests


class Server:
    """The fault server in its own process, with its statistics read at the end."""

    def __init__(self, root: Path, args: list[str], stats: Path) -> None:
        self.stats = stats
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "conda_fetch.testing.faultserver", "--root", str(root),
             "--stats-file", str(stats), *args],
            stdout=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise SystemExit("the fault server did not start; is conda-fetch installed here?")

    def close(self) -> int:
        """Stop the server; its bytes sent. Its last write may wait behind a tool's gigabyte
        still being flushed to disk, so it is given a minute."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        return int(json.loads(self.stats.read_text()).get("bytes_sent", 0))


def timed(command: list[str], stdout: Path | None = None) -> tuple[float, bool, float]:
    """Run ``command``; wall seconds, success, peak RSS in MB. Data written earlier is
    flushed first, so that no tool pays for the writes of the one before."""
    os.sync()
    started = time.monotonic()
    with open(stdout or os.devnull, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL)
        status, _, peak = _wait(proc)
    ok = os.waitstatus_to_exitcode(status) == 0
    return time.monotonic() - started, ok, peak


def _wait(proc: subprocess.Popen, deadline: float | None = None
          ) -> tuple[int, resource.struct_rusage, float]:
    """Wait for ``proc`` (killed past ``deadline``): its status, resource usage and peak
    memory in MB. The peak is the child's own high-water mark (``VmHWM``, read while it
    runs): the ``ru_maxrss`` of a forked child counts the benchmark's own pages, which grow
    over a long run."""
    peak = 0.0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            return status, usage, peak or usage.ru_maxrss / 1024
        peak = max(peak, _high_water_mb(proc.pid))
        if deadline is not None and time.monotonic() > deadline:
            proc.kill()
        time.sleep(0.005)


def _high_water_mb(pid: int) -> float:
    """``pid``'s peak resident memory so far in MB, 0 where /proc does not say."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def killed_then_rerun(command: list[str], progress: Callable[[], int], at: int
                      ) -> tuple[float, bool, float]:
    """Run ``command``, ``kill -9`` it once ``progress()`` reaches ``at``, run it again."""
    os.sync()
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None and progress() < at:
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    _, ok, peak = timed(command)
    return time.monotonic() - started, ok, peak


def conda_fetch(plan: Path, out: Path, *options: str) -> list[str]:
    exe = shutil.which("conda-fetch")
    return [*([exe] if exe else [sys.executable, "-m", "conda_fetch"]), "get", str(plan),
            "--pkgs-dir", str(out), *options]


def one_connection(urls: list[str], out: Path) -> list[str]:
    """One connection per file, one file at a time, no resume: how conda fetches."""
    script = (
        "import sys, requests\n"
        "for url in sys.argv[2:]:\n"
        "    with requests.get(url, stream=True, timeout=(9.15, 60)) as r:\n"
        "        r.raise_for_status()\n"
        "        with open(sys.argv[1] + '/' + url.rsplit('/', 1)[1], 'wb') as f:\n"
        "            for chunk in r.iter_content(1 << 20):\n"
        "                f.write(chunk)\n"
    )
    return [sys.executable, "-c", script, str(out), *urls]


def aria2(urls: list[str], digests: dict[str, str], out: Path) -> list[str]:
    """aria2c fetching ``urls`` into ``out``, checking each sha256. It keeps no control
    file (``--auto-save-interval=0``): it is never stopped and resumed here, and one
    created and removed beside each file would tax every tool run after it (see
    :func:`discard`)."""
    listing = out / "aria2.txt"
    lines = []
    for url in urls:
        name = url.rsplit("/", 1)[1]
        lines += [url, f"  out={name}", f"  checksum=sha-256={digests[name]}"]
    listing.write_text("\n".join(lines) + "\n")
    return ["aria2c", "-q", "-i", str(listing), "-d", str(out), "-j", "8", "-x", "8", "-s", "8",
            "-k", "4M", "--max-tries=0", "--retry-wait=0", "--file-allocation=none",
            "--auto-file-renaming=false", "--auto-save-interval=0"]


def write_plan(path: Path, urls: list[str], digests: dict[str, str]) -> Path:
    path.write_text("@EXPLICIT\n" + "".join(
        f"{u}#sha256:{digests[u.rsplit('/', 1)[1]]}\n" for u in urls))
    return path


def compare_tools(work: Path, files: list[tuple[str, int]], server_args: list[str],
                  resume: bool = False) -> dict[str, Result]:
    """Each tool against a fresh server; with ``resume``, each is killed half way
    (``kill -9``) and run again, without aria2c (it saves its state once a minute)."""
    root = work / "channel"
    digests = make_files(root, files)
    tools = ["conda-fetch", "one connection"]
    if shutil.which("aria2c") and not resume:
        tools.append("aria2c")
    results = {}
    for tool in tools:
        out = work / tool.replace(" ", "-")
        out.mkdir()
        server = Server(root, server_args, work / f"{out.name}.stats.json")
        urls = [f"{server.url}/noarch/{name}" for name, _ in files]
        if tool == "conda-fetch":
            command = conda_fetch(write_plan(work / "plan.txt", urls, digests), out, "--quiet")
        elif tool == "one connection":
            command = one_connection(urls, out)
        else:
            command = aria2(urls, digests, out)
        if resume:
            half = sum(size for _, size in files) // 2
            seconds, ok, peak = killed_then_rerun(command, partial(_on_disk, out), half)
        else:
            seconds, ok, peak = timed(command)
        ok = ok and _all_correct(out, digests)
        results[tool] = Result(tool, seconds, server.close(), ok,
                               peak if tool == "conda-fetch" else None)
        discard(out)
    discard(root)
    return results


def _on_disk(out: Path) -> int:
    """Bytes a tool has safely written: conda-fetch's resume state, else the files' sizes."""
    total = 0
    for path in out.rglob("*"):
        if path.name.endswith(".part"):
            total += (saved(path) or (0, None))[0]
        elif path.suffix == ".conda" and ".conda-fetch" not in path.parts:
            total += path.stat().st_size if path.exists() else 0
    return total


def _all_correct(out: Path, digests: dict[str, str]) -> bool:
    for name, expected in digests.items():
        path = out / name
        if not path.exists():
            return False
        digest = hashlib.sha256()
        with open(path, "rb") as stream:
            while block := stream.read(8 * MiB):
                digest.update(block)
        if digest.hexdigest() != expected:
            return False
    return True


# -- scenarios: each returns its table rows and its targets ------------------------------
def throttle(work: Path) -> tuple[Rows, list[Target]]:
    by = compare_tools(work, BIG, ["--throttle", str(4 * MiB)])
    ours = by["conda-fetch"]
    targets = [Target("speed vs one connection", by["one connection"].seconds / ours.seconds,
                      6.0, True, ok=ours.ok)]
    if "aria2c" in by:
        targets.append(Target("time vs aria2c", ours.seconds / by["aria2c"].seconds, 1.15,
                              False, ok=ours.ok and by["aria2c"].ok))
    return _rows("64 MB, 4 MB/s per connection", by), targets


def cut(work: Path) -> tuple[Rows, list[Target]]:
    by = compare_tools(work, BIG, ["--cut-every", str(5 * MiB)])
    ours = by["conda-fetch"]
    extra = ours.sent / BIG[0][1] - 1
    return _rows("64 MB, cut every 5 MB", by), [
        Target("one run, extra bytes", extra, 0.05, False, "%", ok=ours.ok)]


def unlimited(work: Path) -> tuple[Rows, list[Target]]:
    by = compare_tools(work, [("huge-1.0-0.conda", 1024 * MiB)], [])
    ours = by["conda-fetch"]
    targets = [Target("peak memory", ours.peak_mb or 0.0, 100, False, " MB", ok=ours.ok)]
    if "aria2c" in by:
        targets.insert(0, Target("throughput vs aria2c", by["aria2c"].seconds / ours.seconds,
                                 0.8, True, ok=ours.ok and by["aria2c"].ok))
    return _rows("1 GiB, no limits", by), targets


def small(work: Path) -> tuple[Rows, list[Target]]:
    by = compare_tools(work, SMALL, ["--latency", "0.05"])
    ours = by["conda-fetch"]
    targets = [Target("200 packages all fetched", float(ours.ok), 1, True, "")]
    return _rows("200 packages, 50 ms latency", by), targets


def resume(work: Path) -> tuple[Rows, list[Target]]:
    by = compare_tools(work, BIG, ["--throttle", str(4 * MiB)], resume=True)
    ours = by["conda-fetch"]
    extra = ours.sent / BIG[0][1] - 1
    return _rows("64 MB, 4 MB/s, kill -9 at 50%, rerun", by), [
        Target("bytes over the payload", extra, 0.10, False, "%", ok=ours.ok)]


def _rows(label: str, by: dict[str, Result]) -> Rows:
    return [(label if n == 0 else "", r) for n, r in enumerate(by.values())]


def mirrors(work: Path) -> tuple[Rows, list[Target]]:
    """conda-fetch against itself: one mirror, two, a refused primary, a corrupting mirror.
    Each mirror caps a connection at 2 MB/s and answers 503 beyond 4 connections at once,
    as mirrors limiting connections per client do; conda-fetch runs with its defaults."""
    root = work / "channel"
    digests = make_files(root, BIG)
    capped = ["--throttle", str(2 * MiB), "--max-active", "4"]

    def run(label: str, servers: list[list[str]], refused_first: bool = False
            ) -> tuple[Result, bool]:
        """The result, and whether exactly the corrupting servers were named."""
        procs = [Server(root, args, work / f"{label}-{n}.json") for n, args in enumerate(servers)]
        bases = [p.url for p in procs]
        if refused_first:
            bases.insert(0, _refused())
        out = work / label
        out.mkdir()
        plan = write_plan(work / "plan.txt", [f"{bases[0]}/noarch/{BIG[0][0]}"], digests)
        maps = [arg for base in bases[1:] for arg in ("--mirror", f"{bases[0]}={base}")]
        report = work / "report.json"
        seconds, ok, peak = timed(conda_fetch(plan, out, "--json", *maps),
                                  stdout=report)
        ok = ok and _all_correct(out, digests)
        discard(out)
        blamed = [h for f in json.loads(report.read_text())["fetched"] for h in f["blamed"]]
        culprits = [p.url for p, args in zip(procs, servers, strict=True)
                    if "--corrupt-every" in args]
        return Result(label, seconds, sum(p.close() for p in procs), ok, peak), \
            blamed == culprits

    one, _ = run("one mirror", [capped])
    two, _ = run("two mirrors", [capped, capped])
    refused, _ = run("refused primary", [capped], refused_first=True)
    clean, _ = run("three clean", [capped] * 3)
    corrupt, named = run("one corrupting",
                         [capped, [*capped, "--corrupt-every", str(MiB)], capped])
    rows = [("64 MB mirrors: 2 MB/s/conn, 4 conns" if r is one else "", r)
            for r in (one, two, refused, clean, corrupt)]
    discard(root)
    return rows, [
        Target("two mirrors vs one", one.seconds / two.seconds, 1.8, True, ok=two.ok),
        Target("refused primary costs", refused.seconds - one.seconds, 1.0, False, " s",
               ok=refused.ok),
        Target("corrupting mirror of three (named) vs clean",
               corrupt.seconds / clean.seconds, 1.5, False, ok=corrupt.ok and named),
    ]


def _refused() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


# -- index scenarios: a channel's repodata.json through `conda-fetch index` ------------------
INDEX_MB = 30


def _index_channel(root: Path) -> tuple[str, int]:
    """A channel whose linux-64 ``repodata.json`` is ``INDEX_MB`` MB (no ``.zst``): its sha256
    and size. Generated in a child process: a child's peak memory starts at its parent's."""
    script = ("import sys; from pathlib import Path; "
              "from conda_fetch.testing.repodata import write_index; "
              "write_index(Path(sys.argv[1]), 'noarch', 1000, zst=False); "
              "write_index(Path(sys.argv[1]), 'linux-64', int(sys.argv[2]), zst=False)")
    subprocess.run([sys.executable, "-c", script, str(root), str(INDEX_MB * MiB)], check=True)
    path = root / "linux-64" / "repodata.json"
    return _sha256(path), path.stat().st_size


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(8 * MiB):
            digest.update(block)
    return digest.hexdigest()


def _index_command(base: str, pkgs: Path, *options: str) -> list[str]:
    exe = shutil.which("conda-fetch")
    return [*([exe] if exe else [sys.executable, "-m", "conda_fetch"]), "index", base,
            "--platform", "linux-64", "--pkgs-dir", str(pkgs), "--quiet", *options]


def _index_cached(pkgs: Path, base: str, expected: str) -> bool:
    from conda_fetch.index import CacheFiles, cache_key

    path = CacheFiles(pkgs, cache_key(f"{base}/linux-64")).json
    return path.exists() and _sha256(path) == expected


def _index_run(work: Path, tool: str, server_args: list[str], expected: str) -> Result:
    """One tool fetching the linux-64 index from a fresh server."""
    root = work / "channel"
    out = work / tool.replace(" ", "-")
    out.mkdir()
    server = Server(root, server_args, work / f"{out.name}.stats.json")
    url = f"{server.url}/linux-64/repodata.json"
    if tool == "conda-fetch":
        seconds, ok, peak = timed(_index_command(server.url, out))
        ok = ok and _index_cached(out, server.url, expected)
    else:
        listing = out / "aria2.txt"
        listing.write_text(f"{url}\n  out=repodata.json\n")
        command = one_connection([url], out) if tool == "one connection" else [
            "aria2c", "-q", "-i", str(listing), "-d", str(out), "-x", "8", "-s", "8", "-k", "4M",
            "--max-tries=0", "--retry-wait=0", "--file-allocation=none"]
        seconds, ok, peak = timed(command)
        ok = ok and (out / "repodata.json").exists() \
            and _sha256(out / "repodata.json") == expected
    discard(out)
    return Result(tool, seconds, server.close(), ok, peak if tool == "conda-fetch" else None)


def _index_tools(work: Path, server_args: list[str], aria: bool = True
                 ) -> tuple[dict[str, Result], int]:
    """Each tool's result, and the index's size."""
    expected, size = _index_channel(work / "channel")
    tools = ["conda-fetch", "one connection"] + (["aria2c"] if aria and shutil.which("aria2c")
                                                  else [])
    return {tool: _index_run(work, tool, server_args, expected) for tool in tools}, size


def index_throttle(work: Path) -> tuple[Rows, list[Target]]:
    by, _ = _index_tools(work, ["--throttle", str(2 * MiB)])
    ours = by["conda-fetch"]
    return _rows(f"index {INDEX_MB} MB, 2 MB/s per connection", by), [
        Target("index speed vs one connection", by["one connection"].seconds / ours.seconds,
               3.0, True, ok=ours.ok)]


def index_cut(work: Path) -> tuple[Rows, list[Target]]:
    by, size = _index_tools(work, ["--cut-every", str(5 * MiB)], aria=False)
    ours = by["conda-fetch"]
    extra = ours.sent / size - 1
    return _rows(f"index {INDEX_MB} MB, cut every 5 MB", by), [
        Target("index one run, extra bytes", extra, 0.05, False, "%", ok=ours.ok),
        Target("index one connection fails", float(not by["one connection"].ok), 1, True, "")]


def index_mirror(work: Path) -> tuple[Rows, list[Target]]:
    """The channel's host refuses every connection; a mirror cuts every 5 MB."""
    expected, size = _index_channel(work / "channel")
    mirror = Server(work / "channel", ["--cut-every", str(5 * MiB)], work / "mirror.json")
    primary = _refused()
    pkgs = work / "pkgs"
    seconds, ok, peak = timed(_index_command(primary, pkgs, "--mirror",
                                             f"{primary}={mirror.url}"))
    ok = ok and _index_cached(pkgs, primary, expected)
    result = Result("conda-fetch", seconds, mirror.close(), ok, peak)
    extra = result.sent / size - 1
    return [(f"index {INDEX_MB} MB: refused primary, cutting mirror", result)], [
        Target("index via cutting mirror, extra bytes", extra, 0.05, False, "%", ok=ok)]


INDEX_SCENARIOS = {"index-throttle": index_throttle, "index-cut": index_cut,
                   "index-mirror": index_mirror}
# -- end of the index scenarios ------------------------------------------------------------


SCENARIOS = {"throttle": throttle, "cut": cut, "unlimited": unlimited, "small": small,
             "resume": resume, "mirrors": mirrors, **INDEX_SCENARIOS}


# == The engine at scale and under real failure patterns ===================================
# Every tool runs RUNS times per scenario, each time into a fresh folder, against the
# same server process; the table shows the median wall time with the CPU seconds and peak
# memory of that run. py-rattler (the engine of pixi) runs when importable (it is not a
# dependency of conda-fetch: `pip install py-rattler` beside the benchmark), conda when
# importable, aria2c when installed; each is skipped with the reason otherwise.

RUNS = int(os.environ.get("BENCH_RUNS", "3"))  # fewer only to try the benchmark out
SMALL_1000 = [(f"s{i:04d}-1.0-0.conda", 10_000 + (i * 7919) % 40_000) for i in range(1000)]


def _env_sizes() -> list[tuple[str, int]]:
    """120 packages shaped like a PyTorch environment: a few large, most small, 616 MiB."""
    large = [256, 96, 64, 40, 24, 16, 12, 8, 8, 6]
    small = [20_000 * (150 ** ((i * 37 % 110) / 110)) for i in range(110)]
    rest = 616 * MiB - sum(large) * MiB
    scale = rest / sum(small)
    sizes = [m * MiB for m in large] + [int(x * scale) for x in small]
    return [(f"e{i:03d}-1.0-0.conda", size) for i, size in enumerate(sizes)]


def _busy_sizes() -> list[tuple[str, int]]:
    """46 packages from 60 kB to 2 MB, 24 MB in all."""
    return [(f"b{i:02d}-1.0-0.conda", 60_000 + (i * 104_729) % 1_940_000) for i in range(46)]


@dataclass
class Run:
    wall: float
    ok: bool
    cpu: float
    peak_mb: float
    output: str = ""


def measured(command: list[str], timeout: float = 900.0) -> Run:
    """Run ``command``: wall seconds, success, CPU seconds (user + system, children
    included) and peak RSS. Data written earlier is flushed first."""
    os.sync()
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, text=True)
        status, usage, peak = _wait(proc, started + timeout)
        wall = time.monotonic() - started
        out.seek(0)
        text = out.read()
    return Run(wall, os.waitstatus_to_exitcode(status) == 0, usage.ru_utime + usage.ru_stime,
               peak, text)


def rattler_command(urls: list[str], out: Path, sync: bool = False,
                    digests: dict[str, str] | None = None) -> list[str] | None:
    """py-rattler fetching every URL, 50 at once (pixi's default), or ``None`` if absent.
    It checks no digest and flushes nothing; as a tool that does what conda-fetch does
    would: with ``digests``, each file's sha256 is checked on a thread as soon as it is
    written, beside the downloads still running (rattler hashes as it extracts, but its
    Python API offers no plain download that verifies); with ``sync``, what it wrote is
    then flushed (``os.sync``). (Looked for, not imported: a child forked from a large
    parent reports its peak.)"""
    if importlib.util.find_spec("rattler") is None:
        return None
    listing = out / "rattler-urls.txt"
    listing.write_text("\n".join(
        f"{url} {(digests or {}).get(url.rsplit('/', 1)[1], '-')}" for url in urls))
    script = (
        "import asyncio, hashlib, os, sys\n"
        "from pathlib import Path\n"
        "from rattler.networking import Client\n"
        "from rattler.package_streaming import download_to_path\n"
        "def sha256(path):\n"
        "    digest = hashlib.sha256()\n"
        "    with open(path, 'rb') as f:\n"
        "        while block := f.read(1 << 20):\n"
        "            digest.update(block)\n"
        "    return digest.hexdigest()\n"
        "async def main(out, lines):\n"
        "    client, gate = Client(), asyncio.Semaphore(50)\n"
        "    loop = asyncio.get_running_loop()\n"
        "    async def one(url, expected):\n"
        "        path = Path(out) / url.rsplit('/', 1)[1]\n"
        "        async with gate:\n"
        "            await download_to_path(client, url, path)\n"
        "        if expected == '-':\n"
        "            return\n"
        "        if await loop.run_in_executor(None, sha256, path) != expected:\n"
        "            raise SystemExit(f'{path.name}: sha256 mismatch')\n"
        "    await asyncio.gather(*(one(*line.split()) for line in lines))\n"
        "asyncio.run(main(sys.argv[1], open(sys.argv[2]).read().splitlines()))\n"
        + ("os.sync()\n" if sync else "")
        + "sys.stdout.flush()\n"
        "os._exit(0)  # py-rattler can crash while the interpreter shuts down\n"
    )
    return [sys.executable, "-c", script, str(out), str(listing)]


def conda_command(plan: Path, out: Path) -> list[str] | None:
    """conda itself fetching the explicit plan into a scratch prefix, or ``None``."""
    exe = shutil.which("conda")
    if exe is None:
        return None
    return ["env", f"CONDA_PKGS_DIRS={out}", exe, "create", "--yes", "--quiet",
            "--download-only", "--prefix", str(out / "prefix"), "--file", str(plan)]


def aria2_command(urls: list[str], digests: dict[str, str], out: Path, jobs: int,
                  split: int) -> list[str] | None:
    """aria2c with ``jobs`` files at once and up to ``split`` connections per file."""
    if not shutil.which("aria2c"):
        return None
    command = aria2(urls, digests, out)
    for flag, value in (("-j", jobs), ("-x", split), ("-s", split)):
        command[command.index(flag) + 1] = str(value)
    command[command.index("--retry-wait=0")] = "--retry-wait=1"  # else a 503 is final
    return command


@dataclass
class Row:
    tool: str
    run: Run | None
    skipped: str = ""


FLOOR = Path(__file__).with_name("floor.py")
LOOP_FLOOR = Path(__file__).with_name("floor_loop.py")


def side_by_side(work: Path, files: list[tuple[str, int]], server_args: list[str],
                 aria2_jobs: int = 16, aria2_split: int = 16,
                 floor: int = 0) -> dict[str, Row]:
    """Each tool RUNS times against one server process, in rounds (every tool once, then
    again: a machine whose speed drifts slows them alike); the median run of each. With
    ``floor`` threads, also the floor under a verifying, durable fetch in Python (see
    floor.py), the same work from one thread's event loop over as many connections (see
    floor_loop.py), rattler followed by a flush of what it wrote ("rattler+sync"), and
    rattler checking each file's sha256 too ("rattler+sha+sync": the work conda-fetch
    does, see :func:`rattler_command`)."""
    root = work / "channel"
    digests = make_files(root, files)
    stats = work / "stats.json"
    server = Server(root, server_args, stats)
    urls = [f"{server.url}/noarch/{name}" for name, _ in files]
    plan = write_plan(work / "plan.txt", urls, digests)
    tools = ("conda-fetch", "aria2c", "rattler", "conda",
             *(["floor", "loop floor", "rattler+sync", "rattler+sha+sync"] if floor else []))
    runs: dict[str, list[Run]] = {}
    skipped: dict[str, str] = {}
    try:
        for n in range(RUNS):
            for tool in tools:
                if tool in skipped:
                    continue
                out = work / f"{tool}-{n}"
                out.mkdir()
                command = _command(tool, plan, urls, digests, out, aria2_jobs, aria2_split, floor)
                if command is None:
                    skipped[tool] = {"aria2c": "aria2c is not installed",
                                     "conda": "conda is not installed here"}.get(
                                         tool, "py-rattler is not importable here")
                else:
                    run = measured(command)
                    run.ok = run.ok and _all_correct(out, digests)
                    runs.setdefault(tool, []).append(run)
                discard(out)
    finally:
        server.close()
        discard(root)
    return {tool: Row(tool, sorted(runs[tool], key=lambda r: r.wall)[len(runs[tool]) // 2])
            if tool in runs else Row(tool, None, skipped=skipped[tool]) for tool in tools}


def _command(tool: str, plan: Path, urls: list[str], digests: dict[str, str], out: Path,
             aria2_jobs: int, aria2_split: int, floor: int) -> list[str] | None:
    """How ``tool`` fetches the plan into ``out``; ``None`` when it is not installed."""
    if tool == "conda-fetch":
        return conda_fetch(plan, out, "--quiet")
    if tool == "aria2c":
        return aria2_command(urls, digests, out, aria2_jobs, aria2_split)
    if tool.startswith("rattler"):
        return rattler_command(urls, out, sync=tool != "rattler",
                               digests=digests if tool == "rattler+sha+sync" else None)
    if tool.endswith("floor"):
        script = FLOOR if tool == "floor" else LOOP_FLOOR
        return [sys.executable, str(script), str(plan), str(out), str(floor)]
    return conda_command(plan, out)


def _scale_rows(label: str, rows: dict[str, Row]) -> Rows:
    out: Rows = []
    for n, row in enumerate(rows.values()):
        name = label if n == 0 else ""
        if row.run is None:
            print(f"{name:<40} {row.tool:<16} skipped: {row.skipped}")
            continue
        out.append((name, Result(row.tool, row.run.wall, 0, row.run.ok, row.run.peak_mb)))
        print(f"{name:<40} {row.tool:<16} {row.run.wall:>7.2f} s  {row.run.cpu:>6.2f} CPU s  "
              f"{row.run.peak_mb:>5.0f} MB peak  {'ok' if row.run.ok else 'FAILED'}")
    return []  # printed here, with CPU seconds


def _versus(ours: Row, other: Row, name: str, limit: float = 1.0) -> list[Target]:
    """``ours`` takes at most ``limit`` times ``other``'s time (skipped tools: no target;
    a tool that did not deliver every file correctly: ours must have)."""
    if other.run is None or ours.run is None:
        return []
    if not other.run.ok:
        return [Target(f"{name} (it failed)", 0.0, limit, False, ok=ours.run.ok)]
    return [Target(name, ours.run.wall / other.run.wall, limit, False, ok=ours.run.ok)]


def small_files(work: Path, latency: float) -> tuple[Rows, list[Target]]:
    from conda_fetch.engine import Options

    args = ["--latency", str(latency)] if latency else []
    defaults = Options()  # the floor gets as many threads as conda-fetch opens files there
    rows = side_by_side(work, SMALL_1000, args, floor=defaults.far if latency else defaults.quick)
    ours = rows["conda-fetch"]
    label = f"1000 files 10-50 kB, {latency * 1000:g} ms latency"
    _scale_rows(label, rows)
    tag = f"1000 small, {latency * 1000:g} ms"
    targets = [*_versus(ours, rows["aria2c"], f"{tag}: time vs aria2c"),
               *_versus(ours, rows["rattler"], f"{tag}: time vs rattler")]
    if ours.run is not None and not latency:
        targets.append(Target(f"{tag}: CPU per file", ours.run.cpu / len(SMALL_1000) * 1000,
                              1.0, False, " ms", ok=ours.run.ok))
    return [], targets


def small_fast(work: Path) -> tuple[Rows, list[Target]]:
    return small_files(work, 0.0)


def small_latency(work: Path) -> tuple[Rows, list[Target]]:
    return small_files(work, 0.06)


def env_throttled(work: Path) -> tuple[Rows, list[Target]]:
    from conda_fetch.engine import Options

    files = _env_sizes()
    rate = 4 * MiB
    defaults = Options()
    # aria2c with as many connections as ours: two files at a time, eight each (16 in all)
    rows = side_by_side(work, files, ["--throttle", str(rate)], aria2_jobs=2,
                        aria2_split=defaults.connections // 2)
    _scale_rows("PyTorch-like 120 pkgs 616 MiB, 4 MB/s/conn", rows)
    ours = rows["conda-fetch"]
    limit = sum(size for _, size in files) / (min(defaults.connections, defaults.per_host) * rate)
    targets = _versus(ours, rows["aria2c"],
                      "throttled env: time vs aria2c -j2 -x8 (as many connections)")
    if ours.run is not None:
        targets.insert(0, Target("throttled env: time vs the limit of its connections",
                                 ours.run.wall / limit, 1.05, False, ok=ours.run.ok))
    return [], targets


def env_latency(work: Path) -> tuple[Rows, list[Target]]:
    from conda_fetch.engine import Options

    # the floor with as many threads as conda-fetch opens files on this far link
    rows = side_by_side(work, _env_sizes(), ["--latency", "0.06"], floor=Options().far)
    _scale_rows("PyTorch-like 120 pkgs 616 MiB, 60 ms", rows)
    return [], _versus(rows["conda-fetch"], rows["rattler"], "env with latency: time vs rattler")


def busy_mirror(work: Path) -> tuple[Rows, list[Target]]:
    args = ["--throttle", "200000", "--status-rate", "0.05", "--cut-after", str(1_500_000)]
    rows = side_by_side(work, _busy_sizes(), args, aria2_jobs=8, aria2_split=1)
    _scale_rows("busy mirror: 46 pkgs, 200 kB/s, 5% 503, cuts", rows)
    return [], _versus(rows["conda-fetch"], rows["aria2c"], "busy mirror: time vs aria2c -j8")


def dead_host(work: Path) -> tuple[Rows, list[Target]]:
    """Five files on a host that refuses every connection: all must fail, soon, saying why."""
    base = _refused()
    plan = work / "plan.txt"
    plan.write_text("@EXPLICIT\n" + "".join(
        f"{base}/noarch/d{i}-1.0-0.conda#sha256:{'0' * 64}\n" for i in range(5)))
    run = measured(conda_fetch(plan, work / "pkgs"))
    said = "connection refused" in run.output
    print(f"{'dead host: 5 files, connection refused':<40} {'conda-fetch':<16} "
          f"{run.wall:>7.2f} s  {run.cpu:>6.2f} CPU s  exit {'1' if not run.ok else '0'}"
          f"{', reason printed' if said else ', NO reason printed'}")
    return [], [Target("dead host: all failed within", run.wall, 60, False, " s",
                       ok=not run.ok and said)]


def corrupt_mix(work: Path) -> tuple[Rows, list[Target]]:
    """A fast mirror corrupting every response beside a slow and a good one, the channel's
    own host refusing; against the good mirror alone."""
    files = [(f"c{i}-1.0-0.conda", size * MiB) for i, size in enumerate([24, 16, 8, 8, 4, 4])]
    root = work / "channel"
    digests = make_files(root, files)
    payload = sum(size for _, size in files)
    good_args = ["--throttle", str(8 * MiB)]
    kinds = {"corrupt": ["--corrupt-every", str(MiB)], "slow": ["--throttle", str(MiB)],
             "good": good_args}

    def run(label: str, mirrors: list[list[str]]) -> tuple[Run, int]:
        servers = [Server(root, args, work / f"{label}-{n}.json")
                   for n, args in enumerate(mirrors)]
        channel = _refused()
        urls = [f"{channel}/noarch/{name}" for name, _ in files]
        maps = [arg for s in servers for arg in ("--mirror", f"{channel}={s.url}")]
        out = work / label
        out.mkdir()
        result = measured(conda_fetch(write_plan(work / "plan.txt", urls, digests), out,
                                      "--quiet", *maps))
        result.ok = result.ok and _all_correct(out, digests)
        discard(out)
        return result, sum(s.close() for s in servers)

    alone = [run(f"good-{n}", [good_args]) for n in range(RUNS)]
    mixed = [run(f"mix-{n}", list(kinds.values())) for n in range(RUNS)]
    discard(root)
    base = sorted(alone, key=lambda r: r[0].wall)[RUNS // 2]
    mix = sorted(mixed, key=lambda r: r[0].wall)[RUNS // 2]
    for label, (result, sent) in (("good mirror alone", base), ("corrupt+slow+good", mix)):
        print(f"{'corrupt mix: ' + label:<40} {'conda-fetch':<16} {result.wall:>7.2f} s  "
              f"{result.cpu:>6.2f} CPU s  {sent / MiB:>6.1f} MB sent  "
              f"{'ok' if result.ok else 'FAILED'}")
    return [], [
        Target("corrupt mix: time vs the good mirror alone", mix[0].wall / base[0].wall, 1.3,
               False, ok=mix[0].ok),
        Target("corrupt mix: bytes over the payload", mix[1] / payload - 1, 0.10, False, "%",
               ok=mix[0].ok),
    ]


def resume_unsized(work: Path) -> tuple[Rows, list[Target]]:
    """One 64 MB file known by its md5 only (no size): killed at half, run again."""
    root = work / "channel"
    make_files(root, BIG)
    md5 = hashlib.md5((root / "noarch" / BIG[0][0]).read_bytes()).hexdigest()
    server = Server(root, ["--throttle", str(4 * MiB)], work / "stats.json")
    plan = work / "plan.txt"
    plan.write_text(f"@EXPLICIT\n{server.url}/noarch/{BIG[0][0]}#{md5}\n")
    out = work / "pkgs"
    seconds, ok, _ = killed_then_rerun(conda_fetch(plan, out, "--quiet"),
                                       lambda: _on_disk(out), BIG[0][1] // 2)
    extra = server.close() / BIG[0][1] - 1
    print(f"{'64 MB, md5 only, kill -9 at 50%, rerun':<40} {'conda-fetch':<16} "
          f"{seconds:>7.2f} s  {extra:+.1%} bytes  {'ok' if ok else 'FAILED'}")
    return [], [Target("resume without size: bytes over the payload", extra, 0.05, False, "%",
                       ok=ok)]


SCENARIOS.update({
    "small-fast": small_fast, "small-latency": small_latency, "env-throttled": env_throttled,
    "env-latency": env_latency, "busy-mirror": busy_mirror, "dead-host": dead_host,
    "corrupt-mix": corrupt_mix, "resume-unsized": resume_unsized,
})


def _compile_installed() -> None:
    """Byte-compile conda-fetch's modules, as a (non-editable) pip install does: from an
    editable install, with PYTHONDONTWRITEBYTECODE set, every run would compile them
    again (0.1 s a run; the other tools are not Python, or were compiled by pip)."""
    import compileall

    import conda_fetch

    compileall.compile_dir(Path(conda_fetch.__file__).parent, quiet=1)


LATER = Path(tempfile.gettempdir()) / f"conda-fetch-bench-later-{os.getpid()}"
REMOVED = Path(tempfile.gettempdir()) / "conda-fetch-bench-removed"  # when, in its mtime
FORGET = 300  # seconds ext4 may keep skipping a freed inode (its table block written since)


def discard(tree: Path) -> None:
    """Empty every file of ``tree`` now (its space is free at once) and remove the files
    when the benchmark ends. On ext4 without a journal, as on the machines this runs on, a
    new file's inode is looked for past every inode freed in the last minute (five, if
    the inode's block was written since): removing a thousand files costs the next tool
    about 0.3 ms of system CPU for each file it creates. Each tool is measured on
    a file system that its predecessor did not just churn."""
    for folder, _, names in os.walk(tree):
        for name in names:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.truncate(path, 0)
    LATER.mkdir(exist_ok=True)
    tree.rename(LATER / f"{len(list(LATER.iterdir()))}")


def remove_discarded() -> None:
    """Remove what :func:`discard` kept, and note when (see :func:`after_removal`)."""
    if LATER.exists():
        shutil.rmtree(LATER, ignore_errors=True)
        REMOVED.touch()


def after_removal() -> None:
    """Wait until the files an earlier run of the benchmark removed no longer tax the
    tools of this one (see :func:`discard`)."""
    with contextlib.suppress(OSError):
        left = REMOVED.stat().st_mtime + FORGET - time.time()
        if left > 0:
            print(f"waiting {left:.0f} s: the file system still skips the inodes the last "
                  "run of the benchmark freed, at a cost to every file a tool creates")
            time.sleep(left)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", metavar="SCENARIO", help=", ".join(SCENARIOS))
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run every scenario N times and summarize the spread")
    args = parser.parse_args()
    _compile_installed()
    after_removal()
    names = args.only or list(SCENARIOS)
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario: {', '.join(sorted(unknown))}")
    measured: dict[str, list[Target]] = {}
    try:
        for run in range(args.repeat):
            print(f"\nrun {run + 1} of {args.repeat}" if args.repeat > 1 else "")
            print(f"{'scenario':<40} {'tool':<16} {'wall s':>7} {'MB sent':>8} {'ok':>3} "
                  f"{'peak MB':>7}")
            for name in names:
                work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
                try:
                    rows, targets = SCENARIOS[name](work)
                finally:
                    discard(work)
                for label, result in rows:
                    _row(label, result)
                for target in targets:
                    print(f"{'':<4}{target}")
                    measured.setdefault(target.name, []).append(target)
    finally:
        remove_discarded()
    return _summary(measured)


def _summary(measured: dict[str, list[Target]]) -> int:
    """Each target once, over every run: the median and range, met in how many runs."""
    print("\ntargets")
    for name, runs in measured.items():
        values = [t.value for t in runs]
        met = sum(t.met for t in runs)
        median = Target(name, statistics.median(values), runs[0].limit, runs[0].at_least,
                        runs[0].unit, ok=met == len(runs))
        spread = f" (runs {min(values):.2f}..{max(values):.2f})" if len(runs) > 1 else ""
        print(f"  {'PASS' if met == len(runs) else 'FAIL'}  {median}{spread}, "
              f"met in {met}/{len(runs)}")
    return 0 if all(t.met for runs in measured.values() for t in runs) else 1


def _row(label: str, r: Result) -> None:
    peak = f"{r.peak_mb:.0f}" if r.peak_mb is not None else "-"
    print(f"{label:<40} {r.tool:<16} {r.seconds:>7.2f} {r.sent / MiB:>8.1f} "
          f"{'yes' if r.ok else 'NO':>3} {peak:>7}")


if __name__ == "__main__":
    raise SystemExit(main())
