"""Fixtures for tests that call the emulator over HTTP with real boto3 clients."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import boto3
import pytest
from botocore.config import Config

from beam_batchput._botocore import new_session
from beam_batchput.emulator import Emulator

TEST_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
TEST_REGION = "us-east-1"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A fresh running emulator: no resources file (every resource exists), the
    default ``testing``/``testing`` credentials, no faults."""
    with Emulator() as running:
        yield running


def client_config(**overrides: Any) -> Config:
    """The client config for the emulator: no host prefix, one attempt, short timeouts."""
    # "total_max_attempts" counts the first attempt; "max_attempts" would allow one retry.
    settings = dict(inject_host_prefix=False, retries={"total_max_attempts": 1, "mode": "standard"},
                    connect_timeout=2, read_timeout=5)
    settings.update(overrides)
    return Config(**settings)


@pytest.fixture(scope="session")
def _boto3_session() -> boto3.Session:
    # Implementation note: one shared session keeps loaded models, so clients are cheap.
    return boto3.Session(botocore_session=new_session())


@pytest.fixture
def aws_client(_boto3_session: boto3.Session) -> Callable[..., Any]:
    """``(service_name, endpoint_url, **client_kwargs) -> boto3 client`` for the emulator.

    Credentials testing/testing, region us-east-1 and :func:`client_config`, built
    from ``new_session()`` so ``iotevents-data`` works on every botocore;
    ``client_kwargs`` override any of them (e.g. ``aws_secret_access_key``, ``config``).
    """

    def build(service_name: str, endpoint_url: str, **client_kwargs: Any) -> Any:
        kwargs = dict(TEST_CREDENTIALS, region_name=TEST_REGION, endpoint_url=endpoint_url,
                      config=client_config())
        kwargs.update(client_kwargs)
        return _boto3_session.client(service_name, **kwargs)

    return build
