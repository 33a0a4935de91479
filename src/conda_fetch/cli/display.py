"""The live display for people: one line per active file and a total line."""

from __future__ import annotations

import threading
import time
from collections import deque

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from conda_fetch.engine import Listener, Outcome
from conda_fetch.engine.download import Download
from conda_fetch.redact import redact
from conda_fetch.units import duration, human_bytes

_WINDOW = 3.0


class _Speed:
    """Bytes per second over the last few seconds of samples."""

    def __init__(self) -> None:
        self.samples: deque[tuple[float, int]] = deque()

    def update(self, count: int) -> float:
        now = time.monotonic()
        self.samples.append((now, count))
        while len(self.samples) > 2 and now - self.samples[0][0] > _WINDOW:
            self.samples.popleft()
        first_time, first_count = self.samples[0]
        elapsed = now - first_time
        return (count - first_count) / elapsed if elapsed > 0.2 else 0.0


class Display(Listener):
    """Shows progress while the engine runs; prints one line per finished file."""

    def __init__(self, console: Console, files: int, total_bytes: int | None) -> None:
        self.console = console
        self.files = files
        self.total_bytes = total_bytes
        self.active: dict[int, Download] = {}
        self.speeds: dict[int, _Speed] = {}
        self.total_speed = _Speed()
        self.finished_bytes = 0
        self.finished_files = 0
        self.faults = 0
        self.lock = threading.Lock()
        self.live = Live(self, console=console, refresh_per_second=4, transient=True)

    def __enter__(self) -> Display:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.stop()

    # -- engine events ------------------------------------------------------------
    def started(self, download: Download) -> None:
        with self.lock:
            self.active[id(download)] = download
            self.speeds[id(download)] = _Speed()

    def fault(self, download: Download, kind: str, message: str) -> None:
        with self.lock:
            self.faults += 1
        if kind == "verify":
            self.console.print(f"[yellow]! {download.name}: {redact(message)}; fetching again")

    def finished(self, outcome: Outcome) -> None:
        with self.lock:
            for key, download in list(self.active.items()):
                if download.job is outcome.job:
                    del self.active[key]
                    self.speeds.pop(key, None)
            self.finished_files += 1
            self.finished_bytes += outcome.size or 0
        name = outcome.job.name
        if outcome.ok:
            faults = sum(outcome.faults.values())
            note = f", recovered from {faults} fault{'s' if faults > 1 else ''}" if faults else ""
            self.console.print(
                f"[green]✓[/] {name}  {human_bytes(outcome.size or 0)} in "
                f"{duration(outcome.seconds)}{note}"
            )
        else:
            self.console.print(f"[red]✗[/] {name}: {redact(outcome.error or 'failed')}")

    # -- rendering ----------------------------------------------------------------
    def __rich__(self) -> Group:
        with self.lock:
            rows = [(d, self.speeds[k].update(d.have)) for k, d in self.active.items()]
            done = self.finished_bytes + sum(d.have for d, _ in rows)
            finished = self.finished_files
        table = Table.grid(padding=(0, 2))
        for column in ("name", "bytes", "speed", "conns"):
            table.add_column(column, no_wrap=True, justify="left" if column == "name" else "right")
        for download, speed in rows:
            size = human_bytes(download.size) if download.size is not None else "?"
            table.add_row(
                Text(_short(download.name), overflow="ellipsis"),
                f"{human_bytes(download.have)} / {size}",
                f"{human_bytes(speed)}/s",
                f"{download.connections} conn",
            )
        return Group(table, self._total(done, finished))

    def _total(self, done: int, finished: int) -> Text:
        speed = self.total_speed.update(done)
        parts = [f"{finished}/{self.files} files", human_bytes(done)]
        if self.total_bytes:
            parts[-1] += f" / {human_bytes(self.total_bytes)}"
            if speed > 0:
                parts.append(f"ETA {duration(max(0, self.total_bytes - done) / speed)}")
        parts.append(f"{human_bytes(speed)}/s")
        if self.faults:
            parts.append(f"{self.faults} faults recovered")
        return Text("total  " + "  ·  ".join(parts), style="bold")


def _short(name: str, width: int = 48) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"
