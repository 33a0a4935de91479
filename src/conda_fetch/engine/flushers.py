"""Threads that make finished files durable, so that an event loop never waits for the disk.

The loop hands each finished file over (:meth:`Flushers.put`); a thread flushes it
(``sync``) and leaves it, with the error if the flush failed, for the loop to take back
(:meth:`Flushers.take`). The first file of a batch calls ``wake``: the loop may be waiting
for its sockets. Nothing else of the files' placing happens here: each thread that runs
Python beside the loop would make the interpreter's lock change hands at its every system
call.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Flushers(Generic[T]):
    """``count`` threads flushing what :meth:`put` gives them with ``sync``."""

    def __init__(self, sync: Callable[[T], None], wake: Callable[[], None],
                 count: int = 4) -> None:
        self._sync, self._wake = sync, wake
        self._todo: queue.SimpleQueue[T | None] = queue.SimpleQueue()
        self._done: list[tuple[T, OSError | None]] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._work, name=f"flush-{n}", daemon=True)
                         for n in range(count)]
        for thread in self._threads:
            thread.start()

    def put(self, item: T) -> None:
        """Flush ``item`` on one of the threads."""
        self._todo.put(item)

    def take(self) -> list[tuple[T, OSError | None]]:
        """What was flushed since the last call, each with the error its flush met."""
        if not self._done:
            return []
        with self._lock:
            done, self._done = self._done, []
        return done

    def close(self) -> None:
        """Flush what was put, then end the threads."""
        for _ in self._threads:
            self._todo.put(None)
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while (item := self._todo.get()) is not None:
            error = None
            try:
                self._sync(item)
            except OSError as exc:
                error = exc
            with self._lock:
                first = not self._done
                self._done.append((item, error))
            if first:
                self._wake()
