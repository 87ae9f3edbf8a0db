"""Fixtures of the engine tier: the fetched engines, the emulator, the workers' environment.

An engine that ``make engines`` could not fetch fails its tests with the fetch's reason,
unless ``BEAM_BATCHPUT_SKIP_ENGINES`` names it (``1``/``all`` for every engine), in which
case they are skipped with that reason.
"""

from __future__ import annotations

import os
import time
from typing import Iterator, List

import pytest
from apache_beam.runners.portability import job_server

from tests.conftest import set_worker_environment
from tests.runners import engines


def require(engine: str) -> None:
    """Fails (or, opted out, skips) the test unless ``engine``'s artifacts are here."""
    reason = engines.missing(engine)
    if engine in engines.skipped_engines():
        pytest.skip("%s=%s opts out of %s%s" % (
            engines.SKIP_VARIABLE, os.environ.get(engines.SKIP_VARIABLE), engine,
            "; fetch said: %s" % reason if reason else ""))
    if reason:
        pytest.fail("engine %s is missing (set %s=%s to opt out): %s"
                    % (engine, engines.SKIP_VARIABLE, engine, reason), pytrace=False)


@pytest.fixture
def worker_env(monkeypatch) -> None:
    """The workers' environment (:func:`tests.conftest.set_worker_environment`)."""
    set_worker_environment(monkeypatch)


def children(name: str) -> List[int]:
    """Pids of this process's running children whose command line mentions ``name``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open("/proc/%s/cmdline" % entry, "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z" and name in command:
            found.append(int(entry))
    return found


@pytest.fixture
def job_servers(monkeypatch) -> Iterator[None]:
    """Stops, at the test's end, every job server Beam starts for a runner during it
    (Prism, the Flink and Spark job server jars); Beam itself stops them only at
    interpreter exit. Fails if one is still running 10 s later."""
    started = []
    original = job_server.StopOnExitJobServer.start

    def start(self):
        started.append(self)
        return original(self)

    monkeypatch.setattr(job_server.StopOnExitJobServer, "start", start)
    yield
    for server in started:
        server.stop()
    deadline = time.monotonic() + 10
    leftover = lambda: children("prism") + children("job-server")  # noqa: E731
    while leftover() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftover() == [], "job servers still running after the test: %s" % leftover()
