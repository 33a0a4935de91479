"""The floor again, with one thread for every transfer.

``floor.py`` gives each connection its own thread, as conda-fetch does. Here one thread
runs an event loop over ``CONNECTIONS`` kept-alive connections (as rattler and aria2c
work): it sends each request, reads each answer, hashes the body and writes it beside the
file's final name. A few other threads do only what blocks on the disk: fsync the file,
rename it, append its URL to ``urls.txt`` with an fsync. The work per file is the same as
``floor.py``'s; beside it, this shows what a fetcher in Python loses by handing the
interpreter's lock from thread to thread at every blocking call.

HTTP here is only what the benchmark's server speaks: ``200`` answers with a
``Content-Length``, on plain ``http``. Anything else ends the run with an error.

Usage: ``python floor_loop.py PLAN OUT CONNECTIONS`` (PLAN as for ``floor.py``).
"""

from __future__ import annotations

import hashlib
import os
import queue
import selectors
import socket
import sys
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from floor import jobs_of, open_urls, verdict

PLACERS = 4  # threads flushing and renaming finished files
BUFFER = 1 << 18  # one read's most; the loop's only buffer

Placed = tuple[int, str, str, str]  # open part file, its path, the final path, the URL


@dataclass
class Transfer:
    """One connection and the file it is fetching."""

    sock: socket.socket
    url: str = ""
    digest: str = ""
    part: str = ""
    final: str = ""
    fd: int = -1
    hasher: hashlib._Hash = field(default_factory=hashlib.sha256)
    head: bytearray = field(default_factory=bytearray)
    left: int | None = None  # body bytes still to come, once the head is read


def main(plan: str, out: str, connections: int) -> int:
    jobs = jobs_of(plan)
    urls_fd = open_urls(out)
    finished: queue.SimpleQueue[Placed | None] = queue.SimpleQueue()
    lock, wrong = threading.Lock(), list[str]()
    placers = [threading.Thread(target=_place, args=(finished, urls_fd, lock))
               for _ in range(PLACERS)]
    for placer in placers:
        placer.start()
    try:
        _loop(jobs, out, connections, finished, wrong)
    finally:
        for _ in placers:
            finished.put(None)
        for placer in placers:
            placer.join()
        os.close(urls_fd)
    return verdict(wrong)


def _loop(jobs: queue.SimpleQueue[tuple[str, str]], out: str, connections: int,
          finished: queue.SimpleQueue[Placed | None], wrong: list[str]) -> None:
    """Fetch every job over at most ``connections`` connections from this one thread."""
    selector = selectors.DefaultSelector()
    buffer = memoryview(bytearray(BUFFER))
    for _ in range(connections):
        try:
            url, digest = jobs.get_nowait()
        except queue.Empty:
            break
        parts = urlsplit(url)
        sock = socket.create_connection((parts.hostname or "", parts.port or 80))
        sock.setblocking(False)
        transfer = Transfer(sock)
        selector.register(sock, selectors.EVENT_READ, transfer)
        _ask(transfer, url, digest, out)
    while selector.get_map():
        for key, _ in selector.select():
            transfer = key.data
            count = transfer.sock.recv_into(buffer)
            if not count:
                raise SystemExit(f"connection closed during {transfer.url}")
            if _received(transfer, buffer[:count], finished, wrong):
                _next(transfer, jobs, out, selector)


def _ask(transfer: Transfer, url: str, digest: str, out: str) -> None:
    """Open the part file of ``url`` and send its request on the transfer's connection."""
    parts = urlsplit(url)
    name = parts.path.rsplit("/", 1)[1]
    transfer.url, transfer.digest = url, digest
    transfer.part = os.path.join(out, f".{name}.part")
    transfer.final = os.path.join(out, name)
    transfer.fd = os.open(transfer.part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    transfer.hasher = hashlib.sha256()
    transfer.head.clear()
    transfer.left = None
    request = f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
    transfer.sock.sendall(request)  # a few bytes: the socket's buffer always takes them


def _next(transfer: Transfer, jobs: queue.SimpleQueue[tuple[str, str]], out: str,
          selector: selectors.BaseSelector) -> None:
    """Ask for the next job on this connection, or close it when none is left."""
    try:
        url, digest = jobs.get_nowait()
    except queue.Empty:
        selector.unregister(transfer.sock)
        transfer.sock.close()
        return
    _ask(transfer, url, digest, out)


def _received(transfer: Transfer, data: memoryview, finished: queue.SimpleQueue[Placed | None],
              wrong: list[str]) -> bool:
    """Take ``data`` read from the connection; whether the file's last byte came."""
    if transfer.left is None:
        transfer.head += data
        head, found, body = bytes(transfer.head).partition(b"\r\n\r\n")
        if not found:
            return False
        transfer.left = _length(head, transfer.url)
        data = memoryview(body)
    if len(data) > transfer.left:
        raise SystemExit(f"more than the announced length for {transfer.url}")
    transfer.hasher.update(data)
    if os.write(transfer.fd, data) != len(data):
        raise OSError(f"short write to {transfer.part}")
    transfer.left -= len(data)
    if transfer.left:
        return False
    if transfer.hasher.hexdigest() == transfer.digest:
        finished.put((transfer.fd, transfer.part, transfer.final, transfer.url))
    else:
        os.close(transfer.fd)
        os.unlink(transfer.part)
        wrong.append(transfer.url)
    return True


def _length(head: bytes, url: str) -> int:
    """The body's length announced by a ``200`` answer's ``head``."""
    lines = head.split(b"\r\n")
    if lines[0].split(b" ", 2)[1:2] != [b"200"]:
        raise SystemExit(f"{url}: {lines[0].decode('latin-1')}")
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise SystemExit(f"{url}: no Content-Length")


def _place(finished: queue.SimpleQueue[Placed | None], urls_fd: int,
           lock: threading.Lock) -> None:
    """Flush, close and rename each finished file, then record its URL durably."""
    while (item := finished.get()) is not None:
        fd, part, final, url = item
        os.fsync(fd)
        os.close(fd)
        os.rename(part, final)
        with lock:
            os.write(urls_fd, f"{url}\n".encode())
            os.fsync(urls_fd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
