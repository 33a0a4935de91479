"""The live display for people: one line per active file and a total line.

Every line fits the terminal with room to spare (a ``^C`` echoed by the terminal never
wraps a line, so the display never erases one it did not draw): names are shortened
before numbers, a bar is drawn only where there is room. Sizes the plan does not give
are taken from the engine's downloads as soon as a server tells them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from conda_fetch.engine import Job, Listener, Outcome
from conda_fetch.engine.download import Download
from conda_fetch.engine.events import Progress
from conda_fetch.redact import redact
from conda_fetch.units import duration, human_bytes

_WINDOW = 3.0
SPARE = 3  # columns left free at the end of every line
BAR = 20  # width of a file's bar, drawn where the name still gets NAME_ROOM
NAME_ROOM = 30
MIN_NAME = 8
WIDE = 80  # from this width on, columns are aligned and connections shown
ROWS = 16  # files shown at most; the rest are counted on one line


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

    def __init__(self, console: Console) -> None:
        self.console = console
        self.sizes: dict[str, int | None] = {}  # each queued file's size, once known
        self.active: dict[int, Progress] = {}
        self.speeds: dict[int, _Speed] = {}
        self.total_speed = _Speed()
        self.finished_bytes = 0
        self.finished_received = 0  # bytes received in this run (speeds leave resumed ones out)
        self.finished_files = 0
        self.recovered = 0  # faults followed by progress, in files that finished
        self.waiting: dict[int, tuple[str, int]] = {}  # a file's last fault, and its bytes then
        self.lock = threading.Lock()
        self.live = Live(self, console=console, refresh_per_second=4, transient=True)

    def __enter__(self) -> Display:
        self.live.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        # interrupted: leave the last frame as it is rather than erase anything
        self.live.transient = kind is None
        self.live.stop()

    @property
    def width(self) -> int:
        return max(self.console.width - SPARE, 20)

    # -- engine events ------------------------------------------------------------
    def queued(self, jobs: Sequence[Job]) -> None:
        with self.lock:
            self.sizes.update({job.name: job.size for job in jobs})

    def started(self, download: Progress) -> None:
        with self.lock:
            self.active[id(download)] = download
            self.speeds[id(download)] = _Speed()

    def fault(self, download: Download, kind: str, message: str) -> None:
        with self.lock:
            self.waiting[id(download)] = (redact(message), download.fetched)
        if kind == "verify":
            self.console.print(Text(f"! {download.name}: {redact(message)}; fetching again",
                                    style="yellow"))
        elif not self.console.is_terminal:  # no live display: each retry is a line
            self.console.print(f"{download.name}: {redact(message)}")

    def finished(self, outcome: Outcome) -> None:
        name = outcome.job.name
        with self.lock:
            for key, download in list(self.active.items()):
                if download.job is outcome.job:
                    del self.active[key]
                    self.speeds.pop(key, None)
                    self.waiting.pop(key, None)
            self.finished_files += 1
            self.recovered += outcome.recovered
            # a file given up counts what it got (kept for the next run), not its size
            kept = (outcome.size or 0) if outcome.ok else outcome.resumed + outcome.fetched
            self.finished_bytes += kept
            self.finished_received += outcome.fetched
            self.sizes[name] = outcome.size if outcome.size is not None else self.sizes.get(name)
        if outcome.ok:
            faults = outcome.recovered
            note = f", recovered from {faults} fault{'s' if faults > 1 else ''}" if faults else ""
            tail = f"  {human_bytes(outcome.size or 0)} in {duration(outcome.seconds)}{note}"
            self.console.print(Text("✓ ", style="green") + Text(self._fit(name, tail) + tail))
        else:
            tail = f": {redact(outcome.error or 'failed')}"
            self.console.print(Text("✗ ", style="red") + Text(self._fit(name, tail) + tail))

    # -- rendering ----------------------------------------------------------------
    def __rich__(self) -> Group:
        with self.lock:
            rows = [(d, self.speeds[k].update(d.fetched)) for k, d in self.active.items()]
            waiting = {id(d): said for d, _ in rows if not d.connections
                       and (said := self.waiting.get(id(d), ("", -1)))[1] == d.fetched}
            recovered = self.recovered + sum(d.recovered for d, _ in rows)
            for download, _ in rows:
                if download.size is not None:
                    self.sizes[download.name] = download.size
            done = self.finished_bytes + sum(d.have for d, _ in rows)
            received = self.finished_received + sum(d.fetched for d, _ in rows)
            finished = self.finished_files
            sizes = list(self.sizes.values())
        total = sum(s for s in sizes if s) if None not in sizes else None
        lines = [self._row(download, speed, waiting.get(id(download), ("", 0))[0])
                 for download, speed in rows[:ROWS]]
        if len(rows) > ROWS:
            lines.append(Text(f"… and {len(rows) - ROWS} more files in flight", style="dim"))
        speed = self.total_speed.update(received)
        return Group(*lines, self._total(done, finished, len(sizes), total, speed, recovered))

    def _row(self, download: Progress, speed: float, waits_for: str = "") -> Text:
        if waits_for:  # no connection: say what it waits for
            tail = f"  waiting: {waits_for}"
            room = max(self.width - len(tail), MIN_NAME)
            return Text(f"{_shorten(download.name, room):<{room}}{tail}"[: self.width])
        have, size = download.have, download.size
        of = human_bytes(size) if size else "?"
        if self.console.width >= WIDE:  # aligned columns
            numbers = [f"{have / size:4.0%}" if size else "   ?",
                       f"{human_bytes(have):>9} / {of:<9}", f"{human_bytes(speed) + '/s':>11}",
                       f"{download.connections} conn"]
        else:  # narrow: the numbers close together, the name gets the rest
            numbers = [f"{have / size:.0%}" if size else "?", f"{human_bytes(have)}/{of}",
                       f"{human_bytes(speed)}/s"]
        tail = "  " + "  ".join(numbers)
        room = self.width - len(tail)
        bar = ""
        if size and room >= NAME_ROOM + BAR + 1:
            filled = min(BAR, int(BAR * have / size))
            bar = " " + "█" * filled + "░" * (BAR - filled)
            room -= len(bar)
        room = max(room, MIN_NAME)
        return Text(f"{_shorten(download.name, room):<{room}}{bar}{tail}")

    def _total(self, done: int, finished: int, files: int, total: int | None,
               speed: float, recovered: int) -> Text:
        parts = [f"{finished}/{files} files"]
        if total:
            parts.append(f"{human_bytes(done)} / {human_bytes(total)} "
                         f"({min(done / total, 1):.0%})")
            if speed > 0:
                parts.append(f"ETA {duration(max(0, total - done) / speed)}")
        else:
            parts.append(human_bytes(done))
        parts.append(f"{human_bytes(speed)}/s")
        if recovered:
            parts.append(f"{recovered} faults recovered")
        while len(parts) > 1 and len("total  " + "  ·  ".join(parts)) > self.width:
            parts.pop()  # the least useful goes first: faults, then speed, then ETA
        return Text("total  " + "  ·  ".join(parts), style="bold")

    def _fit(self, name: str, tail: str) -> str:
        """``name`` shortened so that ``"✓ " + name + tail`` fits the width."""
        return _shorten(name, max(self.width - 2 - len(tail), MIN_NAME))


def _shorten(name: str, width: int) -> str:
    """``name`` in ``width`` characters: its middle gives way, so its start (the package)
    and its end (the build and extension) stay."""
    if len(name) <= width:
        return name
    head = (width - 1) // 2
    return name[:head] + "…" + name[len(name) - (width - 1 - head):]
