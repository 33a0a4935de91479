"""Benchmark: conda-fetch against a one-connection downloader and aria2c on loopback.

Not a test. Each scenario starts the project's fault-injecting server in its own
process, runs each tool as its own process against it, and reports wall time,
bytes the server sent, success and (for conda-fetch) peak memory. Run:

    python bench/run.py            # every scenario
    python bench/run.py throttle   # only some
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


MiB = 1 << 20


@dataclass
class Scenario:
    name: str
    files: list[tuple[str, int]]
    server_args: list[str]
    targets: str


@dataclass
class Result:
    tool: str
    seconds: float
    sent: int
    ok: bool
    peak_mb: float | None = None


SCENARIOS = {
    "throttle": Scenario("throttle", [("big-1.0-0.conda", 64 * MiB)], ["--throttle", str(4 * MiB)],
                         ">= 6x one connection, within 15% of aria2c"),
    "cut": Scenario("cut", [("big-1.0-0.conda", 64 * MiB)], ["--cut-every", str(5 * MiB)],
                    "one run, <= 5% extra bytes"),
    "unlimited": Scenario("unlimited", [("huge-1.0-0.conda", 1024 * MiB)], [],
                          ">= 80% of aria2c throughput, peak memory < 100 MB"),
    "small": Scenario("small", [(f"pkg{i:03d}-1.0-0.conda", 20_000 + 997 * i) for i in range(200)],
                      ["--latency", "0.05"], "200 packages, 50 ms latency per request"),
}


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
            [sys.executable, "-m", "conda_fetch.faultserver", "--root", str(root),
             "--stats-file", str(stats), *args],
            stdout=subprocess.PIPE, text=True,
        )
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise SystemExit("the fault server did not start; is conda-fetch installed here?")

    def close(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)
        return int(json.loads(self.stats.read_text()).get("bytes_sent", 0))


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, bool, float]:
    """Run ``command``; wall seconds, success, peak RSS in MB."""
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.monotonic() - started, proc.returncode == 0, usage.ru_maxrss / 1024


def run_conda_fetch(plan: Path, out: Path) -> tuple[float, bool, float]:
    return timed([*_conda_fetch(), "get", str(plan), "--pkgs-dir", str(out), "--quiet"])


def run_single(urls: list[str], out: Path) -> tuple[float, bool, float]:
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
    return timed([sys.executable, "-c", script, str(out), *urls])


def run_aria2(urls: list[str], digests: dict[str, str], out: Path) -> tuple[float, bool, float]:
    listing = out / "aria2.txt"
    lines = []
    for url in urls:
        name = url.rsplit("/", 1)[1]
        lines += [url, f"  out={name}", f"  checksum=sha-256={digests[name]}"]
    listing.write_text("\n".join(lines) + "\n")
    return timed(["aria2c", "-q", "-i", str(listing), "-d", str(out), "-j", "8", "-x", "8",
                  "-s", "8", "-k", "4M", "--max-tries=0", "--retry-wait=0",
                  "--file-allocation=none", "--auto-file-renaming=false"])


def run_scenario(scenario: Scenario, work: Path) -> list[Result]:
    root = work / "channel"
    digests = make_files(root, scenario.files)
    tools = ["conda-fetch", "one connection"] + (["aria2c"] if shutil.which("aria2c") else [])
    results = []
    for tool in tools:
        out = work / tool.replace(" ", "-")
        out.mkdir()
        server = Server(root, scenario.server_args, work / f"{out.name}.stats.json")
        urls = [f"{server.url}/noarch/{name}" for name, _ in scenario.files]
        if tool == "conda-fetch":
            plan = work / "plan.txt"
            plan.write_text("@EXPLICIT\n" + "".join(
                f"{u}#sha256:{digests[u.rsplit('/', 1)[1]]}\n" for u in urls))
            seconds, ok, peak = run_conda_fetch(plan, out)
        elif tool == "one connection":
            seconds, ok, peak = run_single(urls, out)
        else:
            seconds, ok, peak = run_aria2(urls, digests, out)
        ok = ok and _all_correct(out, digests)
        results.append(Result(tool, seconds, server.close(), ok,
                              peak if tool == "conda-fetch" else None))
        shutil.rmtree(out)
    shutil.rmtree(root)
    return results


MIRROR_FILE = [("big-1.0-0.conda", 64 * MiB)]
MIRROR_OPTIONS = ["--split", "8", "--per-host", "4"]


def run_mirror_scenarios(work: Path) -> list[tuple[str, Result, str]]:
    """conda-fetch against itself: one mirror, two, a refused primary, a corrupting mirror."""
    root = work / "channel"
    digests = make_files(root, MIRROR_FILE)
    capped = ["--throttle", str(2 * MiB)]
    rows = []

    def run(label: str, servers: list[list[str]], refused_first: bool = False) -> Result:
        procs = [Server(root, args, work / f"{label}-{n}.json") for n, args in enumerate(servers)]
        bases = [p.url for p in procs]
        if refused_first:
            bases.insert(0, _refused())
        name = MIRROR_FILE[0][0]
        plan = work / "plan.txt"
        plan.write_text(f"@EXPLICIT\n{bases[0]}/noarch/{name}#sha256:{digests[name]}\n")
        out = work / label
        out.mkdir()
        mirrors = [arg for base in bases[1:] for arg in ("--mirror", f"{bases[0]}={base}")]
        seconds, ok, peak = timed([*_conda_fetch(), "get", str(plan), "--pkgs-dir", str(out),
                                   "--quiet", *MIRROR_OPTIONS, *mirrors])
        ok = ok and _all_correct(out, digests)
        shutil.rmtree(out)
        return Result(label, seconds, sum(p.close() for p in procs), ok, peak)

    one = run("one mirror", [capped])
    two = run("two mirrors", [capped, capped])
    rows.append(("mirrors", one, ""))
    rows.append(("mirrors", two, _ratio("one mirror's speed", one.seconds / two.seconds, 1.8)))
    refused = run("refused primary", [capped], refused_first=True)
    cost = refused.seconds - one.seconds
    rows.append(("mirrors", refused, f"costs {cost:+.2f}s ({'met' if cost < 1 else 'MISSED'})"))
    clean = run("three clean", [capped] * 3)
    corrupt = run("one corrupting", [capped, capped + ["--corrupt-every", str(MiB)], capped])
    ratio = corrupt.seconds / clean.seconds
    rows.append(("mirrors", clean, ""))
    rows.append(("mirrors", corrupt, f"{ratio:.2f}x the clean time "
                                     f"({'met' if corrupt.ok and ratio <= 1.5 else 'MISSED'})"))
    shutil.rmtree(root)
    return rows


def _refused() -> str:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def _conda_fetch() -> list[str]:
    exe = shutil.which("conda-fetch")
    return [exe] if exe else [sys.executable, "-m", "conda_fetch"]


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


def verdict(scenario: Scenario, results: list[Result]) -> str:
    """Each target of the scenario, met or not."""
    by = {r.tool: r for r in results}
    ours = by["conda-fetch"]
    payload = sum(size for _, size in scenario.files)
    notes = []
    if scenario.name == "throttle":
        notes.append(_ratio("vs one connection", by["one connection"].seconds / ours.seconds, 6.0))
    if scenario.name == "cut":
        extra = ours.sent / payload - 1
        notes.append(f"extra bytes {extra:+.1%} ({'met' if ours.ok and extra <= 0.05 else 'MISSED'})")
    if scenario.name == "unlimited":
        notes.append(f"peak {ours.peak_mb:.0f} MB ({'met' if ours.peak_mb < 100 else 'MISSED'})")
    if "aria2c" in by and by["aria2c"].ok:
        ratio = by["aria2c"].seconds / ours.seconds
        if scenario.name == "throttle":
            notes.append(f"{ratio:.2f}x aria2c's speed ({'met' if ratio >= 0.85 else 'MISSED'})")
        elif scenario.name == "unlimited":
            notes.append(f"{ratio:.2f}x aria2c's throughput ({'met' if ratio >= 0.8 else 'MISSED'})")
        else:
            notes.append(f"{ratio:.2f}x aria2c's speed")
    return "; ".join(notes)


def _ratio(label: str, value: float, target: float) -> str:
    return f"{value:.1f}x {label} ({'met' if value >= target else 'MISSED'})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", metavar="SCENARIO", help=", ".join(SCENARIOS))
    names = parser.parse_args().only or [*SCENARIOS, "mirrors"]
    unknown = set(names) - {*SCENARIOS, "mirrors"}
    if unknown:
        parser.error(f"unknown scenario: {', '.join(sorted(unknown))}")
    print(f"{'scenario':<10} {'tool':<16} {'wall s':>8} {'MB sent':>9} {'ok':>4} {'peak MB':>8}")
    for name in names:
        if name == "mirrors":
            continue
        scenario = SCENARIOS[name]
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as work:
            results = run_scenario(scenario, Path(work))
        for r in results:
            _row(name, r)
        print(f"{'':<10} targets: {scenario.targets} -> {verdict(scenario, results)}")
    if "mirrors" in names:
        print(f"{'':<10} mirrors: 64 MB, 2 MB/s per connection, {' '.join(MIRROR_OPTIONS)}")
        with tempfile.TemporaryDirectory(prefix="bench-mirrors-") as work:
            for name, result, note in run_mirror_scenarios(Path(work)):
                _row(name, result, note)
    return 0


def _row(name: str, r: Result, note: str = "") -> None:
    peak = f"{r.peak_mb:.0f}" if r.peak_mb is not None else "-"
    print(f"{name:<10} {r.tool:<16} {r.seconds:>8.2f} {r.sent / MiB:>9.1f} "
          f"{'yes' if r.ok else 'NO':>4} {peak:>8}  {note}".rstrip())


if __name__ == "__main__":
    raise SystemExit(main())
