"""The floor under a durable, verifying fetch in Python.

Only what a package cache write needs, and nothing else (no retries, mirrors, resume,
ranges, progress): ``THREADS`` threads, each on one kept-alive connection, GET a file,
stream it beside its final name while hashing it, fsync it, check its sha256, rename it,
and append its URL to ``urls.txt`` with an fsync; a file goes over one connection. The
benchmark runs it beside the real tools, to show where a thread-per-file fetcher in Python
can go at best.

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

CHUNK = 1 << 20  # a thread's buffer: memory stays bounded whatever the file's size


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
    buffer = memoryview(bytearray(CHUNK))
    while True:
        try:
            url, digest = jobs.get_nowait()
        except queue.Empty:
            return
        parts = urlsplit(url)
        conn = conn or http.client.HTTPConnection(parts.hostname or "", parts.port)
        conn.request("GET", parts.path)
        name = parts.path.rsplit("/", 1)[1]
        part = os.path.join(out, f".{name}.part")
        if not _saved(conn.getresponse(), part, digest, buffer):
            os.unlink(part)
            wrong.append(url)
            continue
        os.rename(part, os.path.join(out, name))
        with urls_lock:
            os.write(urls_fd, f"{url}\n".encode())
            os.fsync(urls_fd)


def _saved(body: http.client.HTTPResponse, part: str, digest: str, buffer: memoryview) -> bool:
    """Stream ``body`` to ``part`` (a new file) through ``buffer``, hashing it on the way,
    and fsync it; whether its sha256 is ``digest``."""
    hasher = hashlib.sha256()
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        while count := body.readinto(buffer):
            hasher.update(buffer[:count])
            if os.write(fd, buffer[:count]) != count:
                raise OSError(f"short write to {part}")
        os.fsync(fd)
    finally:
        os.close(fd)
    return hasher.hexdigest() == digest


def main(plan: str, out: str, threads: int) -> int:
    jobs = jobs_of(plan)
    urls_fd = open_urls(out)
    lock, wrong = threading.Lock(), list[str]()
    workers = [threading.Thread(target=fetch_all, args=(jobs, out, urls_fd, lock, wrong))
               for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    os.close(urls_fd)
    return verdict(wrong)


def open_urls(out: str) -> int:
    """``urls.txt`` in ``out``, opened to append."""
    return os.open(os.path.join(out, "urls.txt"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def verdict(wrong: list[str]) -> int:
    """Name each URL whose file failed its sha256; the exit status."""
    for url in wrong:
        print(f"sha256 mismatch: {url}", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
