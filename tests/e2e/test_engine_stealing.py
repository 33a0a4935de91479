"""The end game against a real server: a connection whose answer comes late is not
taken for a slow one, so no byte is asked for twice."""

from __future__ import annotations

import hashlib
import threading
import time

from conda_fetch.engine import Engine, Job, Options, make_session
from conda_fetch.testing.faultserver import Faults

MiB = 1 << 20
HELD = 1.0  # a lost SYN costs a second: the answer to one request comes that late


def test_a_late_answer_is_waited_for_not_fetched_again(tmp_path, fault_server) -> None:
    root = tmp_path / "root"
    root.mkdir()
    data = hashlib.shake_256(b"late").digest(2 * MiB + 5)
    (root / "f.conda").write_bytes(data)
    seen = []
    lock = threading.Lock()

    def hold_the_second(path: str) -> None:
        with lock:
            seen.append(path)
            second = len(seen) == 2
        if second:
            time.sleep(HELD)

    server = fault_server(root, Faults(before_request=hold_the_second))
    job = Job("f.conda", [server.url_for("f.conda")], tmp_path / "work" / "f.conda.part",
              size=len(data), sha256=hashlib.sha256(data).hexdigest())
    options = Options(min_split=256 << 10, stall_seconds=5)
    delivered: list[bytes] = []
    outcome = Engine(make_session(), options).run(
        [job], lambda j: delivered.append(j.part.read_bytes()))[0]
    assert outcome.ok, outcome.error
    assert delivered == [data]
    asked = sum(end - start for _, start, end in server.stats.ranges)
    assert asked == len(data)  # each byte asked for once: the late one kept its range
    assert server.settled().bytes_sent == len(data)


def test_a_connection_silent_mid_body_hands_its_range_to_an_idle_one(
    tmp_path, fault_server
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    data = hashlib.shake_256(b"silent").digest(2 * MiB + 7)
    (root / "f.conda").write_bytes(data)
    server = fault_server(root, Faults(stall_after=64 << 10, stall_count=1))
    job = Job("f.conda", [server.url_for("f.conda")], tmp_path / "work" / "f.conda.part",
              size=len(data), sha256=hashlib.sha256(data).hexdigest())
    # the stall timeout is far beyond the test's patience: only a takeover finishes it
    options = Options(min_split=256 << 10, split=2, connections=2, stall_seconds=3600)
    engine = Engine(make_session(), options)
    delivered: list[bytes] = []
    outcomes = []
    run = threading.Thread(target=lambda: outcomes.extend(
        engine.run([job], lambda j: delivered.append(j.part.read_bytes()))), daemon=True)
    run.start()
    run.join(120)
    if run.is_alive():
        engine.stop(grace=0)
    assert outcomes and outcomes[0].ok, outcomes
    assert delivered == [data]
    assert outcomes[0].faults["stall"] == 1 and outcomes[0].recovered >= 1
