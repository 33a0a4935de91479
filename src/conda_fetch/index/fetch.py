"""One index file from the channel's host or its mirrors into conda's cache.

Each host is asked first (:mod:`ask`): a 304 refreshes the cache; otherwise the
version it names is fetched through the engine with that version's validator as
``If-Range``, so a cut download resumes (across runs too) and is never spliced
with another version. A file that changed meanwhile is asked for again; one that
does not verify is discarded and fetched again. One file comes whole from one
host: a host that is dead, refuses the file or keeps failing passes the file to
the next mirror.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from conda_fetch.cache.lock import FileLock
from conda_fetch.engine import Engine, Job, Listener, Options, Outcome
from conda_fetch.engine.errors import ConnectError, TransferError
from conda_fetch.engine.hosts import host_of
from conda_fetch.engine.session import HttpGetter
from conda_fetch.errors import CondaFetchError
from conda_fetch.index import state as conda_state
from conda_fetch.index import validators
from conda_fetch.index.ask import Answer, ask
from conda_fetch.index.naming import CacheFiles, Target, host_tag
from conda_fetch.index.verify import BadIndex, can_decompress, verified_json
from conda_fetch.redact import redact
from conda_fetch.sources import candidates

ROUNDS = 3  # versions or bad copies one host may cost before the next host is tried
HOST_RETRIES = 3  # engine retries at a host when another host could take over
UNREACHABLE_SECONDS = 60.0  # a host no connection reached is not asked again meanwhile
CLAIM_ATTEMPTS = 10  # seconds to wait for another process fetching the same index

FRESH, UNCHANGED, FETCHED, FAILED = "fresh", "unchanged", "fetched", "failed"


@dataclass
class IndexResult:
    """How one index file ended: ``fresh`` (no request), ``unchanged`` (304),
    ``fetched``, or ``failed``; ``tried`` says what each host did wrong."""

    target: Target
    action: str
    host: str = ""
    size: int = 0
    fetched: int = 0
    seconds: float = 0.0
    tried: list[str] = field(default_factory=list)
    missing: bool = False  # every host said the file is not there (a 4xx): no network fault
    absent: bool = False  # some host said so

    @property
    def ok(self) -> bool:
        return self.action != FAILED

    @property
    def error(self) -> str:
        return "; ".join(self.tried) or "failed"

    def as_json(self) -> dict[str, object]:
        return {"url": redact(self.target.url), "action": self.action, "host": redact(self.host),
                "size": self.size, "fetched": self.fetched, "seconds": round(self.seconds, 3),
                "not_on_server": self.missing, "tried": [redact(t) for t in self.tried]}


class Sink(Protocol):
    """What writes conda's files: :mod:`conda_fetch.index.state`, or conda's cache object."""

    def commit(self, files: CacheFiles, verified: Path, fields: Mapping[str, Any]) -> None: ...

    def refresh(self, files: CacheFiles, fields: Mapping[str, Any] | None = None) -> None: ...


class _HostFailed(Exception):
    """This host will not serve this index now; the next one may. ``missing``: it said
    it has no such file."""

    def __init__(self, message: str, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True)
class Settings:
    """``max_age``: write ``Cache-Control: max-age=N`` so conda trusts the cache that long.
    ``local_ttl``: conda's ``local_repodata_ttl``. ``tar_bz2_only``: conda's
    ``use_only_tar_bz2`` (other cache names)."""

    max_age: int | None = None
    local_ttl: int = 1
    tar_bz2_only: bool = False


class IndexFetcher:
    """Fetches index files into conda's cache; safe to call from several threads."""

    def __init__(self, session: HttpGetter, options: Options | None = None,
                 mirrors: Mapping[str, Sequence[str]] | None = None,
                 listener: Listener | None = None, settings: Settings | None = None) -> None:
        self.session = session
        self.options = options or Options()
        self.mirrors = mirrors or {}
        self.listener = listener or Listener()
        self.settings = settings or Settings()
        self.stop = threading.Event()
        self._engines: set[Engine] = set()
        self._unreachable: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def cancel(self) -> None:
        """Stop every transfer (Ctrl-C); what is on disk stays for the next run."""
        self.stop.set()
        with self._lock:
            engines = list(self._engines)
        for engine in engines:
            engine.stop()

    def fetch(self, target: Target, pkgs: Path, force: bool = False,
              sink: Sink = conda_state) -> IndexResult:
        """Make conda's cache in ``pkgs`` hold the current ``target`` (``force``: ask even
        when conda would trust its cache). ``sink`` writes conda's files (conda's own cache
        object, in the plugin)."""
        started = time.monotonic()
        files = CacheFiles(pkgs, target.key, self.settings.tar_bz2_only)
        cached = conda_state.load(files)
        if not force and conda_state.fresh(cached, self.settings.local_ttl):
            return IndexResult(target, FRESH, size=int(cached.get("size") or 0))
        try:
            claim = FileLock.wait(files.claim_path, attempts=CLAIM_ATTEMPTS)
        except CondaFetchError as exc:  # another process is fetching it, or a planted link
            return IndexResult(target, FAILED, tried=[str(exc)])
        try:
            result = self._from_hosts(target, files, cached, sink)
        finally:
            if claim is not None:
                claim.release()
        result.seconds = time.monotonic() - started
        return result

    def _from_hosts(self, target: Target, files: CacheFiles, cached: dict[str, Any],
                    sink: Sink) -> IndexResult:
        """The index from the first host that serves it; what each host did wrong."""
        hosts = candidates(target.subdir_url, self.mirrors)
        result = IndexResult(target, FAILED)
        tried: list[str] = []
        absent: list[bool] = []
        for number, base in enumerate(hosts):
            if self.stop.is_set():
                tried.append("interrupted")
                break
            try:
                result = self._from_host(target, files, cached, base, number, len(hosts), sink)
                break
            except _HostFailed as exc:
                tried.append(f"{redact(base)}: {exc}")
                absent.append(exc.missing)
        result.tried = tried
        result.missing = not result.ok and bool(absent) and all(absent)
        result.absent = not result.ok and any(absent)
        return result

    # -- one host -------------------------------------------------------------------
    def _from_host(self, target: Target, files: CacheFiles, cached: dict, base: str,
                   number: int, hosts: int, sink: Sink) -> IndexResult:
        origin = number == 0
        conditions = validators.of_host(files, cached, base, origin)
        zst = target.zst and can_decompress() and not conda_state.lacks_zst(cached)
        names = [target.fn + ".zst", target.fn] if zst else [target.fn]
        for name in names:
            answer = self._ask(f"{base}/{name}", conditions)
            if answer.status == 304:
                sink.refresh(files, self._max_age())
                return IndexResult(target, UNCHANGED, base, int(cached.get("size") or 0))
            if answer.found:
                fallback = name != names[0] or (target.zst and not zst)
                return self._download(target, files, base, name, answer, fallback,
                                      origin, number + 1 < hosts, sink)
            absent = 400 <= answer.status < 500 and answer.status != 416
            if not (absent and name != names[-1]):
                raise _HostFailed(f"HTTP {answer.status} {answer.reason}".strip(), absent)
        raise _HostFailed("no index")  # pragma: no cover - the loop returns or raises

    def _ask(self, url: str, conditions: dict[str, str]) -> Answer:
        """The host's answer; a host no connection reached is not asked again for a while
        (one dead host costs its retries once, not once per index)."""
        host = host_of(url)
        with self._lock:
            until, why = self._unreachable.get(host, (0.0, ""))
        if time.monotonic() < until:
            raise _HostFailed(f"{why} (moments ago; not asked again)")
        try:
            return ask(self.session, url, conditions, self.options, self.stop)
        except TransferError as exc:
            if isinstance(exc, ConnectError):
                with self._lock:
                    self._unreachable[host] = (time.monotonic() + UNREACHABLE_SECONDS, str(exc))
            raise _HostFailed(str(exc)) from None

    def _download(self, target: Target, files: CacheFiles, base: str, name: str,
                  answer: Answer, fallback: bool, origin: bool, more_hosts: bool,
                  sink: Sink) -> IndexResult:
        url = f"{base}/{name}"
        fetched = 0
        problem = ""
        for _ in range(ROUNDS):
            job = Job(name=f"{target.subdir}/{name}", urls=[url], size=answer.size,
                      part=files.part(host_tag(base), name), validator=answer.validator)
            outcome = self._run(job, more_hosts)
            fetched += outcome.fetched
            if outcome.ok:
                try:
                    self._place(target, files, job.part, name, answer, fallback, origin, base,
                                sink)
                except BadIndex as exc:
                    problem = f"{name} did not verify: {exc}"
                    self._tell_verify(job.name, problem)
                else:
                    size = files.json.stat().st_size
                    return IndexResult(target, FETCHED, base, size, fetched)
            elif not outcome.faults.get("changed"):
                raise _HostFailed(outcome.error or "failed")
            else:
                problem = "the index kept changing while it was fetched"
            answer = self._ask(url, {})  # the version to fetch now
            if not answer.found:
                raise _HostFailed(f"HTTP {answer.status} {answer.reason}".strip())
        raise _HostFailed(problem)

    def _tell_verify(self, name: str, problem: str) -> None:
        """The listener hears of a file that did not verify, as of a package's."""
        self.listener.fault(_Named(name), "verify", problem)  # type: ignore[arg-type]

    def _run(self, job: Job, more_hosts: bool) -> Outcome:
        options = self.options
        if more_hosts:  # a failing host hands the file on sooner
            options = dataclasses.replace(options, retries=min(options.retries, HOST_RETRIES))
        engine = Engine(self.session, options, self.listener)
        with self._lock:
            if self.stop.is_set():
                raise _HostFailed("interrupted")
            self._engines.add(engine)
        self.listener.queued([job])
        try:
            return engine.run([job], lambda job: None)[0]
        finally:
            with self._lock:
                self._engines.discard(engine)

    def _place(self, target: Target, files: CacheFiles, part: Path, name: str, answer: Answer,
               fallback: bool, origin: bool, base: str, sink: Sink) -> None:
        """Verify the fetched file and give it conda's names with conda's state."""
        out = part.with_name(part.name.removesuffix(".part") + ".verified.json")
        digest = verified_json(part, name.endswith(".zst"), target.subdir, out)
        part.unlink(missing_ok=True)
        fields: dict[str, object] = {
            "url": target.subdir_url,
            "etag": answer.etag if origin else "",
            "mod": answer.mod if origin else "",
            "cache_control": answer.cache_control,
            **self._max_age(),
            "blake2_256_nominal": digest,
            "blake2_256": digest,
        }
        if fallback:
            fields["has_zst"] = conda_state.has_zst_false()
        sink.commit(files, out, fields)
        if not origin:
            validators.remember(files, base, answer.etag, answer.mod)

    def _max_age(self) -> dict[str, str]:
        """The ``cache_control`` that makes conda trust the cache for ``--max-age``."""
        if self.settings.max_age is None:
            return {}
        return {"cache_control": f"public, max-age={self.settings.max_age}"}


@dataclass
class _Named:
    """What a listener needs to name a file outside a transfer."""

    name: str
