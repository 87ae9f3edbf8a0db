"""Fixtures shared by every test directory."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings


@pytest.fixture
def emulator_credentials(monkeypatch):
    """The emulator's default key pair (``testing``/``testing``) as the whole
    standard credential chain of the writers' clients: no session token, no profile."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


# Property tests are deterministic unless asked otherwise: the "ci" profile
# (the default) derandomizes and keeps no example database on disk, so a run
# fails or passes alike everywhere; HYPOTHESIS_PROFILE=explore searches at random.
settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          print_blob=True)
settings.register_profile("explore", derandomize=False, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
