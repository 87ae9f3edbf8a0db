"""Fixtures of the engine tier: the fetched engines, the emulator, the workers' environment.

An engine that ``make engines`` could not fetch fails its tests with the fetch's reason,
unless ``BEAM_BATCHPUT_SKIP_ENGINES`` names it (``1``/``all`` for every engine), in which
case they are skipped with that reason.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, Iterator, List

import pytest
from apache_beam.runners.portability import job_server

from beam_batchput.emulator import Emulator
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
def emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """Starts emulators on loopback; stops them all at teardown."""
    started: List[Emulator] = []

    def start(**kwargs: Any) -> Emulator:
        running = Emulator(**kwargs).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def worker_env(monkeypatch) -> None:
    """What every worker inherits: the emulator's credentials, this checkout on
    PYTHONPATH, this interpreter first on PATH (a worker pool starts ``python``)."""
    root = engines.ROOT
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH")) if p))
    monkeypatch.setenv("PATH", os.pathsep.join(
        (os.path.dirname(sys.executable), os.environ.get("PATH", ""))))


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
