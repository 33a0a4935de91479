"""The fault server's own accounts, on which byte-count assertions rest."""

from __future__ import annotations

import threading
import urllib.request

from conda_fetch.testing.faultserver import Faults


def test_settled_counts_an_answer_still_being_sent(tmp_path, fault_server) -> None:
    """A client may read an answer's last bytes before the server counts them: ``settled``
    waits until no answer is under way, where ``stats`` is only a snapshot."""
    (tmp_path / "f.bin").write_bytes(bytes(1000))
    entered, gate = threading.Event(), threading.Event()

    def hold(path: str) -> None:
        entered.set()
        gate.wait(10)

    server = fault_server(tmp_path, Faults(before_request=hold))
    reader = threading.Thread(target=lambda: urllib.request.urlopen(
        server.url_for("f.bin"), timeout=10).read())
    reader.start()
    assert entered.wait(10)
    assert server.stats.bytes_sent == 0  # held before its answer
    threading.Timer(0.1, gate.set).start()
    assert server.settled().bytes_sent == 1000  # waited for the answer to be sent
    reader.join(10)
