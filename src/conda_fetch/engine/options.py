"""Tunable knobs of the engine, with defaults chosen for bad networks."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1 << 20


@dataclass(frozen=True)
class Options:
    """How hard and how patiently the engine works.

    ``files``: files open at once. ``split``: connections one file may use (which
    file a free connection serves is chosen by what it gains).
    ``connections``: connections in all, across files. ``per_host``: connections one
    host may get at most (16, as aria2 allows at most per server): a host that refuses
    one more with a 429 or 503 gets fewer until its answers earn them back (see
    :class:`~conda_fetch.engine.hosts.HostBoard`). ``min_split``: a file
    is cut into ranges no smaller than this. ``retries``: failed attempts in a
    row without progress, at each of a file's hosts, before the file is given up;
    a failing host waits its ``Retry-After`` (at most ``retry_after_max``) or an
    exponential backoff with jitter (``backoff_base``, ``backoff_max``) before its
    next try. ``stall_seconds`` and ``stall_speed``: a connection slower than
    ``stall_speed`` bytes/s for ``stall_seconds`` is dropped and its range fetched again
    (a try that failed, even after progress); one silent for two seconds in the middle of
    a body hands its range to an idle connection before that. ``give_up_after``: a host
    that never answered (refused, name not resolved, unreachable) is given up for the
    whole run after this many seconds of failed tries, or after ``retries`` of them.
    ``max_unsized``: the most a file of unknown size may be (a source sending more, or
    announcing more, fails): a hostile server cannot fill the disk through a plan that
    names no size. ``far``: on a far
    link (a host whose answers take longer to come than its bodies to arrive, see
    :class:`~conda_fetch.engine.hosts.HostBoard`), the most requests in flight to it,
    files open and connections in all: they grow there from ``per_host``, ``files`` and
    ``connections``, the room doubling with each answer while in use (rattler keeps 50 in
    flight). ``quick``: files open at once while every host answers and sends quicker
    than our side works on a file (this machine, the LAN: see
    :class:`~conda_fetch.engine.hosts.HostBoard`), where more would only contend for the
    CPU.
    """

    files: int = 16
    split: int = 8
    connections: int = 16
    per_host: int = 16
    far: int = 64
    quick: int = 4
    min_split: int = 4 * MiB
    retries: int = 10
    verify_retries: int = 2
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 120.0
    give_up_after: float = 30.0
    connect_timeout: float = 9.15
    stall_seconds: float = 10.0
    stall_speed: int = 1024
    chunk: int = 1 * MiB
    max_unsized: int = 16 << 30
    checkpoint_seconds: float = 1.0
    checkpoint_bytes: int = 2 * MiB

    @property
    def most(self) -> int:
        """The most connections a run may ever have: the size of its connection pools."""
        return max(self.far, self.files, self.connections)
