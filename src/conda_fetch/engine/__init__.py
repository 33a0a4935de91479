"""The download engine: transfers, ranges, retries and verification.

It knows HTTP and files, nothing of conda: a :class:`Job` names URLs, a part
file and the expected size and checksum; :class:`Engine` fills the part file,
verifies it and hands it to a ``deliver`` callback.
"""

from conda_fetch.engine.events import Listener
from conda_fetch.engine.http import HttpSettings, make_session
from conda_fetch.engine.job import Job, Outcome
from conda_fetch.engine.options import MiB, Options
from conda_fetch.engine.runner import Engine

__all__ = ["Engine", "HttpSettings", "Job", "Listener", "MiB", "Options", "Outcome", "make_session"]
