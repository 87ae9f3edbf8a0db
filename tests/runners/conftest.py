"""Fixtures of the engine tier: the fetched engines, the emulator, the workers' environment.

An engine that ``make engines`` could not fetch fails its tests with the fetch's reason,
unless ``BEAM_BATCHPUT_SKIP_ENGINES`` names it (``1``/``all`` for every engine), in which
case they are skipped with that reason.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Iterator, List

import pytest

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
