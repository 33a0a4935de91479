"""The engine end to end against real loopback servers with injected faults."""

from __future__ import annotations

import _thread
import hashlib
import json
import os
import threading
from pathlib import Path

import pytest

from conda_fetch.engine import Engine, Job, Listener, Options, make_session
from conda_fetch.testing.faultserver import Faults, refused_url

MiB = 1 << 20
FAST = Options(min_split=256 << 10, backoff_base=0.01, backoff_max=0.05, stall_seconds=0.5,
               checkpoint_bytes=256 << 10)


def _file(root: Path, name: str, size: int) -> tuple[str, int]:
    data = hashlib.shake_256(name.encode()).digest(size)
    (root / name).write_bytes(data)
    return hashlib.sha256(data).hexdigest(), size


class Recorder(Listener):
    def __init__(self) -> None:
        self.faults: list[str] = []

    def fault(self, download, kind: str, message: str) -> None:
        self.faults.append(kind)


def _fetch(tmp_path: Path, urls: list[str], sha: str | None, size: int | None,
           options: Options = FAST, listener: Listener | None = None):
    delivered: list[bytes] = []
    job = Job("f.conda", urls, tmp_path / "work" / "f.conda.part", size=size, sha256=sha)
    outcome = Engine(make_session(), options, listener).run(
        [job], lambda j: delivered.append(j.part.read_bytes())
    )[0]
    return outcome, delivered


@pytest.fixture
def served(tmp_path, fault_server):
    root = tmp_path / "root"
    root.mkdir()
    sha, size = _file(root, "f.conda", 3 * MiB + 123)
    server = fault_server(root)
    return server, sha, size


def test_split_over_several_connections(tmp_path, served) -> None:
    server, sha, size = served
    server.faults = Faults(throttle=8 * MiB)
    outcome, delivered = _fetch(tmp_path, [server.url_for("f.conda")], sha, size)
    assert outcome.ok, outcome.error
    assert hashlib.sha256(delivered[0]).hexdigest() == sha
    assert server.stats.max_concurrent > 1
    assert server.stats.bytes_sent <= size * 1.02


@pytest.mark.parametrize("size, cut", [(3 * MiB + 123, 300_000), (16 * MiB + 5, 5 * MiB)])
def test_a_file_cut_every_few_mb_arrives_whole_in_one_run(tmp_path, fault_server, size,
                                                          cut) -> None:
    root = tmp_path / "root"
    root.mkdir()
    sha, size = _file(root, "f.conda", size)
    server = fault_server(root, Faults(cut_every=cut))
    recorder = Recorder()
    options = Options(**{**FAST.__dict__, "min_split": Options().min_split})
    outcome, delivered = _fetch(tmp_path, [server.url_for("f.conda")], sha, size, options,
                                recorder)
    assert outcome.ok, outcome.error
    assert hashlib.sha256(delivered[0]).hexdigest() == sha
    assert "cut" in recorder.faults
    assert server.stats.bytes_sent <= size * 1.05


def test_no_range_support_falls_back_to_one_stream(tmp_path, served) -> None:
    server, sha, size = served
    server.faults = Faults(no_range=True)
    outcome, delivered = _fetch(tmp_path, [server.url_for("f.conda")], sha, size)
    assert outcome.ok, outcome.error
    assert hashlib.sha256(delivered[0]).hexdigest() == sha
    assert server.stats.requests == 1


def test_a_server_without_ranges_that_always_breaks_off_early_is_given_up(
    tmp_path, served
) -> None:
    """Each answer starts again from byte 0 and breaks off at the same byte: bytes arrive,
    but the file never gets further, so the tries count and end."""
    server, sha, size = served
    server.faults = Faults(no_range=True, cut_after=100_000)
    options = Options(**{**FAST.__dict__, "retries": 3})
    outcome, delivered = _fetch(tmp_path, [server.url_for("f.conda")], sha, size, options)
    assert not outcome.ok and "gave up after 3 retries" in (outcome.error or "")
    assert f"broke (the body ended {size - 100_000} bytes early)" in (outcome.error or "")
    assert delivered == []
    assert server.stats.requests == 5  # one that got further, then the first try and 3 more


def test_unknown_size_and_hash_learned_from_the_server(tmp_path, served) -> None:
    server, sha, size = served
    outcome, delivered = _fetch(tmp_path, [server.url_for("f.conda")], None, None)
    assert outcome.ok and outcome.size == size
    assert hashlib.sha256(delivered[0]).hexdigest() == sha
    assert server.stats.bytes_sent <= size * 1.02  # the first answer is a piece, not all


def test_429_and_503_are_retried(tmp_path, served) -> None:
    server, sha, size = served
    server.faults = Faults(status_script=[(503, 0.03), (429, 0.02), (500, None)])
    recorder = Recorder()
    outcome, _ = _fetch(tmp_path, [server.url_for("f.conda")], sha, size, listener=recorder)
    assert outcome.ok, outcome.error
    assert recorder.faults[:3] == ["http", "http", "http"]
    assert server.stats.status_counts[503] == server.stats.status_counts[429] == 1


def test_404_fails_fast_without_retries(tmp_path, served) -> None:
    server, sha, size = served
    outcome, delivered = _fetch(tmp_path, [server.url_for("missing.conda")], sha, size)
    assert not outcome.ok and "404" in (outcome.error or "")
    assert server.stats.requests == 1
    assert delivered == []


def test_refused_connection_gives_up_after_retries(tmp_path) -> None:
    options = Options(retries=2, backoff_base=0.01, backoff_max=0.02)
    outcome, _ = _fetch(tmp_path, [refused_url() + "/f.conda"], None, 10, options)
    assert not outcome.ok
    assert outcome.faults["connect"] == 3


@pytest.mark.parametrize("size", [10, None])
def test_a_file_that_got_nothing_leaves_no_part_file(tmp_path, size) -> None:
    options = Options(retries=1, backoff_base=0.01, backoff_max=0.02)
    outcome, _ = _fetch(tmp_path, [refused_url() + "/f.conda"], "0" * 64, size, options)
    assert not outcome.ok
    assert list((tmp_path / "work").iterdir()) == []


def test_a_failed_file_keeps_what_it_fetched(tmp_path, served) -> None:
    server, sha, size = served
    server.faults = Faults(cut_after=MiB)

    class GoneAfterCut(Listener):  # the file is gone (404) once a first answer was cut
        def fault(self, download, kind: str, message: str) -> None:
            server.faults.fail_status = {"f.conda": 404}

    options = Options(min_split=4 * MiB, backoff_base=0.01, backoff_max=0.02)
    outcome, _ = _fetch(tmp_path, [server.url_for("f.conda")], sha, size, options,
                        GoneAfterCut())
    assert not outcome.ok and "404" in (outcome.error or "")
    assert (tmp_path / "work" / "f.conda.part").stat().st_size == MiB


def test_stalled_connection_is_dropped_and_range_refetched(tmp_path, served) -> None:
    server, sha, size = served
    server.faults = Faults(stall_after=100_000, stall_count=1)
    recorder = Recorder()
    outcome, delivered = _fetch(tmp_path, [server.url_for("f.conda")], sha, size,
                                listener=recorder)
    assert outcome.ok, outcome.error
    assert "stall" in recorder.faults
    assert hashlib.sha256(delivered[0]).hexdigest() == sha


def test_corrupt_bytes_never_delivered(tmp_path, served) -> None:
    server, sha, size = served
    server.faults = Faults(corrupt_offsets={12345})
    options = Options(**{**FAST.__dict__, "verify_retries": 1})
    outcome, delivered = _fetch(tmp_path, [server.url_for("f.conda")], sha, size, options)
    assert not outcome.ok and "sha256" in (outcome.error or "")
    assert delivered == []
    assert outcome.faults["verify"] == 2
    assert not (tmp_path / "work" / "f.conda.part").exists()


def test_corruption_that_goes_away_is_refetched(tmp_path, served) -> None:
    server, sha, size = served
    server.faults = Faults(corrupt_offsets={12345})

    class Heal(Recorder):
        def fault(self, download, kind, message):
            super().fault(download, kind, message)
            server.faults = Faults()

    outcome, delivered = _fetch(tmp_path, [server.url_for("f.conda")], sha, size, listener=Heal())
    assert outcome.ok
    assert hashlib.sha256(delivered[0]).hexdigest() == sha


def test_resume_fetches_only_missing_ranges(tmp_path, served) -> None:
    server, sha, size = served
    server.faults = Faults(cut_after=1 * MiB)

    class GoAway(Listener):
        def fault(self, download, kind, message):
            server.faults = Faults(fail_status={"/f.conda": 410})

    single = Options(**{**FAST.__dict__, "split": 1})
    first, _ = _fetch(tmp_path, [server.url_for("f.conda")], sha, size, single, GoAway())
    assert not first.ok and "410" in (first.error or "")
    part = tmp_path / "work" / "f.conda.part"
    assert part.exists() and Path(str(part) + ".state").exists()
    server.faults = Faults()
    server.reset_stats()
    second, delivered = _fetch(tmp_path, [server.url_for("f.conda")], sha, size)
    assert second.ok
    assert second.resumed >= 1 * MiB - FAST.checkpoint_bytes
    assert server.stats.bytes_sent <= size - second.resumed + 4096
    assert hashlib.sha256(delivered[0]).hexdigest() == sha


def test_ctrl_c_keeps_what_was_fetched_and_the_next_run_resumes(tmp_path, served) -> None:
    # One connection whose answer stops for good at 1.5 MiB: the first run cannot finish
    # before the interrupt, whatever the machine's load, so the test alone decides when.
    server, sha, size = served
    server.faults = Faults(stall_after=3 * MiB // 2)
    state = tmp_path / "work" / "f.conda.part.state"
    one_patient_connection = Options(split=1, min_split=256 << 10, stall_seconds=60,
                                     checkpoint_bytes=256 << 10)  # large: it keeps state
    over = threading.Event()

    def press_ctrl_c_after_1_mib() -> None:
        while _saved(state) < MiB:
            if over.wait(0.01):
                return
        _thread.interrupt_main()

    threading.Thread(target=press_ctrl_c_after_1_mib, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            _fetch(tmp_path, [server.url_for("f.conda")], sha, size, one_patient_connection)
    finally:
        over.set()
    saved, total = _ranges(state), _saved(state)
    assert MiB <= total <= 3 * MiB // 2
    server.faults = Faults()
    server.reset_stats()
    outcome, delivered = _fetch(tmp_path, [server.url_for("f.conda")], sha, size)
    assert outcome.ok and outcome.resumed == total
    assert hashlib.sha256(delivered[0]).hexdigest() == sha
    asked = [(start, end) for _, start, end in server.stats.ranges]
    assert not [(a, b) for a, b in asked for s, e in saved if a < e and s < b]  # none again


def _ranges(state: Path) -> list[list[int]]:
    try:
        return json.loads(state.read_text())["done"]
    except (OSError, ValueError):
        return []


def _saved(state: Path) -> int:
    return sum(end - start for start, end in _ranges(state))


def test_part_file_is_not_a_name_conda_uses(tmp_path, served) -> None:
    server, sha, size = served
    outcome, _ = _fetch(tmp_path, [server.url_for("f.conda")], sha, size)
    assert outcome.ok
    names = os.listdir(tmp_path / "work")
    assert not any(n.endswith((".conda", ".partial")) for n in names)


def test_a_local_file_url_is_fetched_in_ranges_like_a_server(tmp_path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    sha, size = _file(root, "f.conda", 3 * MiB + 123)
    url = (root / "f.conda").as_uri()
    outcome, delivered = _fetch(tmp_path, [url], sha, size)
    assert outcome.ok, outcome.error
    assert hashlib.sha256(delivered[0]).hexdigest() == sha
    missing, _ = _fetch(tmp_path / "again", [(root / "nope.conda").as_uri()], None, None)
    assert not missing.ok and "404" in (missing.error or "")


def test_a_source_whose_scheme_cannot_be_served_is_set_aside_at_once(tmp_path, served) -> None:
    server, sha, size = served
    recorder = Recorder()
    outcome, delivered = _fetch(tmp_path, ["gopher://mirror/f.conda", server.url_for("f.conda")],
                                sha, size, listener=recorder)
    assert outcome.ok, outcome.error
    assert hashlib.sha256(delivered[0]).hexdigest() == sha
    assert recorder.faults.count("connect") == 0


def test_one_engine_runs_batch_after_batch(tmp_path, served) -> None:
    server, sha, size = served
    engine = Engine(make_session(), FAST)
    for batch in ("first", "second"):
        job = Job("f.conda", [server.url_for("f.conda")], tmp_path / batch / "f.conda.part",
                  size=size, sha256=sha)
        outcome = engine.run([job], lambda j: None)[0]
        assert outcome.ok, (batch, outcome.error)
