"""How the engine tells a front end what is going on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    from conda_fetch.engine.download import Download
    from conda_fetch.engine.job import Job, Outcome


class Progress(Protocol):
    """What a front end reads of a file in flight: a :class:`Download` of the engine's
    threads, or a file of the quick lane (see :mod:`~conda_fetch.engine.lane`)."""

    @property
    def job(self) -> Job: ...
    @property
    def name(self) -> str: ...
    @property
    def size(self) -> int | None: ...
    @property
    def have(self) -> int: ...
    @property
    def fetched(self) -> int: ...
    @property
    def connections(self) -> int: ...
    @property
    def recovered(self) -> int: ...


class Listener:
    """Receives engine events; every method may be called from any worker thread.

    Front ends subclass it; the default does nothing.
    """

    def queued(self, jobs: Sequence[Job]) -> None:
        """The files about to be fetched (not the ones already in place), before any starts."""

    def started(self, download: Progress) -> None:
        """A file began (or resumed) transferring."""

    def fault(self, download: Download, kind: str, message: str) -> None:
        """An attempt failed (``kind``: cut, stall, slow, http, refused, connect, disk,
        verify, corrupt). ``message`` says why in words and what happens next, e.g.
        ``127.0.0.1:8000: connection refused; try 3 of 11 in 8 s``: a front end shows it
        while waiting, or logs it as a line where there is no live display. Faults
        followed by progress count in ``download.recovered``."""

    def finished(self, outcome: Outcome) -> None:
        """A file was delivered or given up."""
