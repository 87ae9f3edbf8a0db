"""Settings refused at construction with a ValueError naming the setting and the value, and a
client built with exactly the settings given (no network: building a client sends nothing)."""

import pytest

from beam_batchput import RetryConfig
from beam_batchput.core.config import BatchingConfig, ClientConfig, SendingConfig

_REFUSED = [
    (RetryConfig, "max_attempts", 0, "a positive integer"),
    (RetryConfig, "initial_backoff_seconds", -1.0, "a positive finite number"),
    (RetryConfig, "max_backoff_seconds", float("inf"), "a positive finite number"),
    (RetryConfig, "max_retry_seconds", 0, "a positive finite number"),
    (RetryConfig, "max_throttled_seconds", True, "a positive finite number"),
    (SendingConfig, "adaptive_concurrency", "yes", "a bool"),
    (BatchingConfig, "max_buffered_records", 0, "a positive integer"),
    (BatchingConfig, "num_shards", -2, "a positive integer"),
    (ClientConfig, "region_name", "", "None or a non-empty string"),
    (ClientConfig, "endpoint_url", "ftp://x", "an http:// or https:// URL"),
    (ClientConfig, "verify", False, "True or a CA bundle path"),
    (ClientConfig, "verify", "", "True or a CA bundle path"),
    (ClientConfig, "max_pool_connections", 0, "a positive integer"),
    (ClientConfig, "connect_timeout", 0.0, "a positive finite number"),
    (ClientConfig, "read_timeout", -5, "a positive finite number"),
    (ClientConfig, "botocore_max_attempts", 1.5, "a positive integer"),
    (ClientConfig, "parameter_validation", 1, "a bool"),
]


@pytest.mark.parametrize("config, setting, value, expected", _REFUSED,
                         ids=["%s-%r" % (s, v) for _, s, v, _ in _REFUSED])
def test_a_refused_setting_is_named_with_its_value_and_what_it_must_be(config, setting, value,
                                                                        expected):
    with pytest.raises(ValueError) as raised:
        config(**{setting: value})
    assert str(raised.value) == "%s must be %s, got %r" % (setting, expected, value)


def test_max_backoff_below_the_initial_backoff_is_refused_naming_both():
    with pytest.raises(ValueError) as raised:
        RetryConfig(initial_backoff_seconds=2.0, max_backoff_seconds=1.0)
    assert str(raised.value) == (
        "max_backoff_seconds must be >= initial_backoff_seconds (2.0), got 1.0")


def test_a_ca_bundle_path_is_accepted_for_verify():
    assert ClientConfig(verify="/etc/ssl/ca.pem").verify == "/etc/ssl/ca.pem"


def test_the_client_is_built_with_the_settings_given(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = ClientConfig(region_name="eu-west-1", endpoint_url="http://127.0.0.1:9",
                          max_pool_connections=3, connect_timeout=4.0, read_timeout=5.0,
                          botocore_max_attempts=6).create_client("iotsitewise")
    config = client.meta.config
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert (config.max_pool_connections, config.connect_timeout, config.read_timeout) == (
        3, 4.0, 5.0)
    assert config.retries == {"mode": "standard", "total_max_attempts": 6}
    assert config.inject_host_prefix is False


def test_the_client_reads_the_named_profile(monkeypatch, tmp_path):
    config = tmp_path / "config"
    config.write_text("[profile beam-batchput-test]\nregion = ap-south-1\n"
                      "aws_access_key_id = testing\naws_secret_access_key = testing\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    client = ClientConfig(profile_name="beam-batchput-test").create_client("iotsitewise")
    assert client.meta.region_name == "ap-south-1"
