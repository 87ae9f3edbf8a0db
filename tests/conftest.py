"""Fixtures shared by every test directory."""

from __future__ import annotations

import pytest


@pytest.fixture
def emulator_credentials(monkeypatch):
    """The emulator's default key pair (``testing``/``testing``) as the whole
    standard credential chain of the writers' clients: no session token, no profile."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
