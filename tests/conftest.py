"""Fixtures shared by every test directory."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from typing import Any, Callable, Iterator, List

import pytest
from hypothesis import settings

from beam_batchput.emulator import Emulator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def emulator_credentials(monkeypatch):
    """The emulator's default key pair (``testing``/``testing``) as the whole
    standard credential chain of the writers' clients: no session token, no profile."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """Starts emulators from ``Emulator`` keyword arguments; stops them all at teardown."""
    started: List[Emulator] = []

    def start(**kwargs: Any) -> Emulator:
        running = Emulator(**kwargs).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def set_worker_environment(patch: pytest.MonkeyPatch) -> None:
    """What every worker process inherits: the emulator's credentials, this
    checkout on PYTHONPATH, this interpreter first on PATH (a worker pool
    starts ``python``)."""
    patch.setenv("AWS_ACCESS_KEY_ID", "testing")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    patch.delenv("AWS_SESSION_TOKEN", raising=False)
    patch.delenv("AWS_PROFILE", raising=False)
    patch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    patch.setenv("PATH", os.pathsep.join(
        (os.path.dirname(sys.executable), os.environ.get("PATH", ""))))


# Property tests are deterministic unless asked otherwise: the "ci" profile
# (the default) derandomizes and keeps no example database on disk, so a run
# fails or passes alike everywhere; HYPOTHESIS_PROFILE=explore searches at random.
settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          print_blob=True)
settings.register_profile("explore", derandomize=False, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def stop_process_group(process: subprocess.Popen, term_seconds: float,
                       kill_seconds: float = 10.0) -> None:
    """Stops the process group a test started (``start_new_session=True``): SIGTERM,
    then SIGKILL if it has not ended within ``term_seconds``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=term_seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=kill_seconds)


#: Set by ``tools/mutate.py --tests``: comma-separated node id prefixes. Only the
#: tests under them run against a mutant, in that order of prefixes (fast ones
#: first: a mutant a quick test kills is not run through the slow ones before it).
#: mutmut's own passes (collecting tests, tracing which tests reach which
#: function) still see every test.
MUTATE_TESTS_VARIABLE = "BEAM_BATCHPUT_MUTATE_TESTS"


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    prefixes = [p for p in os.environ.get(MUTATE_TESTS_VARIABLE, "").split(",") if p]
    if not prefixes or os.environ.get("MUTANT_UNDER_TEST") in ("stats", "list_all_tests"):
        return

    def rank(item: pytest.Item) -> int:
        return next((n for n, prefix in enumerate(prefixes) if item.nodeid.startswith(prefix)),
                    len(prefixes))

    kept = sorted((item for item in items if rank(item) < len(prefixes)), key=rank)
    dropped = [item for item in items if rank(item) == len(prefixes)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = kept
