"""Configuration objects validate at construction and name the bad parameter."""

import pickle

import botocore.config
import pytest
from botocore.exceptions import ParamValidationError

from beam_batchput import BatchingConfig, ClientConfig, RetryConfig
from tests import fakes


@pytest.mark.parametrize("factory,kwargs,name", [
    (RetryConfig, {"max_attempts": 0}, "max_attempts"),
    (RetryConfig, {"initial_backoff_seconds": -1}, "initial_backoff_seconds"),
    (RetryConfig, {"max_backoff_seconds": 0.01, "initial_backoff_seconds": 1}, "max_backoff_seconds"),
    (RetryConfig, {"max_retry_seconds": float("inf")}, "max_retry_seconds"),
    (BatchingConfig, {"max_buffering_seconds": 0}, "max_buffering_seconds"),
    (BatchingConfig, {"max_buffered_records": 0}, "max_buffered_records"),
    (BatchingConfig, {"num_shards": True}, "num_shards"),
    (ClientConfig, {"endpoint_url": "localhost:4566"}, "endpoint_url"),
    (ClientConfig, {"region_name": ""}, "region_name"),
    (ClientConfig, {"verify": False}, "verify"),
    (ClientConfig, {"boto_config": {"retries": 3}}, "boto_config"),
    (ClientConfig, {"parameter_validation": "yes"}, "parameter_validation"),
])
def test_bad_values_raise_naming_the_parameter(factory, kwargs, name):
    with pytest.raises(ValueError, match=name):
        factory(**kwargs)


def test_client_config_pickles_with_a_boto_config():
    config = ClientConfig(region_name="eu-west-1", boto_config=botocore.config.Config(read_timeout=5))
    assert pickle.loads(pickle.dumps(config)).region_name == "eu-west-1"


def test_custom_endpoint_turns_off_host_prefix_and_keeps_tls_verification():
    client = ClientConfig(region_name="us-east-1", endpoint_url="http://127.0.0.1:1").create_client(
        "iotsitewise")
    assert client.meta.config.inject_host_prefix is False
    default = ClientConfig(region_name="us-east-1").create_client("iotsitewise")
    assert default.meta.config.inject_host_prefix is True
    assert default._endpoint.http_session._verify is True


def test_user_boto_config_overrides_the_defaults():
    client = ClientConfig(region_name="us-east-1",
                          boto_config=botocore.config.Config(read_timeout=7)).create_client(
        "iotsitewise")
    assert client.meta.config.read_timeout == 7
    assert client.meta.config.retries["mode"] == "standard"


def test_parameter_validation_is_off_unless_asked_for(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    def call_without_required_entries(config):
        client = config.create_client("iotsitewise")
        sent = fakes.answer_in_process(client, 200, b'{"errorEntries": []}')
        client.batch_put_asset_property_value()
        return sent

    base = dict(region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    assert len(call_without_required_entries(ClientConfig(**base))) == 1
    with pytest.raises(ParamValidationError, match="entries"):
        call_without_required_entries(ClientConfig(parameter_validation=True, **base))
