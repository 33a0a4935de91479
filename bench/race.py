"""Two conda-fetch processes on one package cache, fed by a mirror that corrupts bytes.

Not a test (the suite has a small deterministic version). Each round empties the cache,
starts two ``conda-fetch get`` of the same plan at once with the corrupting mirror, and
checks: both exit 0 without a traceback, every archive under conda's name has its
sha256, and each file was fetched by one process and found placed by the other. Run:

    python bench/race.py              # 20 rounds
    python bench/race.py --rounds 5
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import MiB, Server, conda_fetch, make_files, write_plan

FILES = [("big-1.0-0.conda", 24 * MiB), ("mid-1.0-0.conda", 6 * MiB),
         ("small-1.0-0.conda", 300_000)]


def one_round(work: Path, plan: Path, digests: dict[str, str],
              mirror: str) -> tuple[bool, str, int]:
    """Whether the round kept every promise, what it saw, and the bytes both fetched."""
    pkgs = work / "pkgs"
    for path in pkgs.glob("*.conda"):
        path.unlink()
    command = conda_fetch(plan, pkgs, "--quiet", "--json", "--mirror", mirror)
    children = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
    results = [(*child.communicate(timeout=300), child.returncode) for child in children]
    reports = [json.loads(out) if out.strip() else {} for out, _, _ in results]
    codes = [code for _, _, code in results]
    tracebacks = sum("Traceback" in err for _, err, _ in results)
    wrong = [fn for fn, sha in digests.items()
             if hashlib.sha256((pkgs / fn).read_bytes()).hexdigest() != sha]
    roles = {fn: sorted(kind for report in reports for kind in ("fetched", "cached")
                        if any(e["fn"] == fn for e in report.get(kind, [])))
             for fn in digests}
    fetched = sum(report.get("bytes_fetched", 0) for report in reports)
    failed = [(e["fn"], e["error"]) for report in reports for e in report.get("failed", [])]
    ok = codes == [0, 0] and not tracebacks and not wrong and all(
        r == ["cached", "fetched"] for r in roles.values())
    seen = (f"exit {codes}, tracebacks {tracebacks}, wrong sha256 {wrong}, roles {roles}"
            + (f", failed {failed}" if failed else ""))
    return ok, seen, fetched


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="conda-fetch-race-") as tmp:
        work = Path(tmp)
        digests = make_files(work / "channel", FILES)
        good = Server(work / "channel", [], work / "good.json")
        bad = Server(work / "channel", ["--corrupt-every", "1000003"], work / "bad.json")
        plan = write_plan(work / "plan.txt", [f"{good.url}/noarch/{n}" for n, _ in FILES], digests)
        total = sum(size for _, size in FILES)
        passed, extra = 0, []
        try:
            for number in range(1, args.rounds + 1):
                ok, seen, fetched = one_round(work, plan, digests, f"{good.url}={bad.url}")
                passed += ok
                extra.append(fetched / total - 1)
                print(f"round {number}: {'ok' if ok else 'BROKEN'}; {seen}; "
                      f"fetched {fetched / total:.2f}x the files' size", flush=True)
        finally:
            good.close()
            bad.close()
    print(f"{passed} of {args.rounds} rounds kept every promise; extra bytes fetched: "
          f"median {sorted(extra)[len(extra) // 2]:+.0%}, max {max(extra):+.0%}")
    return 0 if passed == args.rounds else 1


if __name__ == "__main__":
    sys.exit(main())
