"""The floor under a durable, verifying fetch of many small files in Python.

Only what a package cache write needs, and nothing else (no retries, mirrors, resume,
ranges, progress): ``THREADS`` threads, each on one kept-alive connection, GET a file,
check its sha256, write it beside its final name, fsync it, rename it, and append its URL
to ``urls.txt`` with an fsync. The benchmark runs it beside the real tools, to show where
a thread-per-file fetcher in Python can go at best.

Usage: ``python floor.py PLAN OUT THREADS`` (PLAN: ``@EXPLICIT`` lines ``URL#sha256:HEX``).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import queue
import sys
import threading
from urllib.parse import urlsplit


def jobs_of(plan: str) -> queue.SimpleQueue[tuple[str, str]]:
    """Each ``(url, sha256)`` of the plan, to be taken by the threads."""
    jobs: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
    with open(plan, encoding="utf-8") as lines:
        for line in lines:
            url, _, digest = line.strip().partition("#sha256:")
            if url.startswith("http"):
                jobs.put((url, digest))
    return jobs


def fetch_all(jobs: queue.SimpleQueue[tuple[str, str]], out: str, urls_fd: int,
              urls_lock: threading.Lock, wrong: list[str]) -> None:
    """Take jobs until none is left, over one connection; a file whose sha256 differs is
    added to ``wrong`` and not placed."""
    conn: http.client.HTTPConnection | None = None
    while True:
        try:
            url, digest = jobs.get_nowait()
        except queue.Empty:
            return
        parts = urlsplit(url)
        conn = conn or http.client.HTTPConnection(parts.hostname or "", parts.port)
        conn.request("GET", parts.path)
        body = conn.getresponse().read()
        if hashlib.sha256(body).hexdigest() != digest:
            wrong.append(url)
            continue
        name = parts.path.rsplit("/", 1)[1]
        part = os.path.join(out, f".{name}.part")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(part, os.path.join(out, name))
        with urls_lock:
            os.write(urls_fd, f"{url}\n".encode())
            os.fsync(urls_fd)


def main(plan: str, out: str, threads: int) -> int:
    jobs = jobs_of(plan)
    urls_fd = os.open(os.path.join(out, "urls.txt"), os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                      0o644)
    lock, wrong = threading.Lock(), list[str]()
    workers = [threading.Thread(target=fetch_all, args=(jobs, out, urls_fd, lock, wrong))
               for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    os.close(urls_fd)
    for url in wrong:
        print(f"sha256 mismatch: {url}", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
