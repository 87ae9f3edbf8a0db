"""What the Beam UI shows of a writer: its display data item by item, and the sink lineage a
bundle reports (each resource once, in order, wrapped as Beam wraps segments)."""

from __future__ import annotations

import types

import pytest
from apache_beam.metrics.metric import Lineage
from apache_beam.transforms.window import FixedWindows

from beam_batchput.core import lineage as lineage_module
from beam_batchput.core.config import BatchingConfig, ClientConfig, RetryConfig, SendingConfig
from beam_batchput.core.lineage import SinkLineage, display_items, region_of


def test_the_display_data_of_a_writer_with_its_defaults():
    items = display_items("iotsitewise", "BatchPutAssetPropertyValue", ClientConfig(),
                          BatchingConfig(), RetryConfig(), 16, False, None, None)
    defaults_batching, defaults_retry = BatchingConfig(), RetryConfig()
    assert items == {
        "service": "iotsitewise",
        "operation": "BatchPutAssetPropertyValue",
        "region": "(the worker's default chain)",
        "endpoint": "(the service's own)",
        "tls_verify": "True",
        "max_buffering_seconds": float(defaults_batching.max_buffering_seconds),
        "max_buffered_records": "service default",
        "num_shards": "service default",
        "max_attempts": defaults_retry.max_attempts,
        "initial_backoff_seconds": float(defaults_retry.initial_backoff_seconds),
        "max_backoff_seconds": float(defaults_retry.max_backoff_seconds),
        "max_retry_seconds": float(defaults_retry.max_retry_seconds),
        "max_in_flight": 16,
        "fail_fast": False,
    }


def test_the_display_data_of_a_writer_with_every_setting_given():
    client = ClientConfig(region_name="eu-west-1", endpoint_url="https://127.0.0.1:4599",
                          profile_name="writer", verify="/etc/ca.pem")
    batching = BatchingConfig(max_buffering_seconds=3, max_buffered_records=500, num_shards=8)
    retry = RetryConfig(max_attempts=4, initial_backoff_seconds=1, max_backoff_seconds=30,
                        max_retry_seconds=600, max_throttled_seconds=900)
    sending = SendingConfig(adaptive_concurrency=False, max_requests_per_second=5,
                            max_records_per_second=250)
    windowing = FixedWindows(600)
    items = display_items("connect", "BatchPutDataTableValue", client, batching, retry, 2, True,
                          0.1, windowing, sending)
    assert items == {
        "service": "connect",
        "operation": "BatchPutDataTableValue",
        "region": "eu-west-1",
        "endpoint": "https://127.0.0.1:4599",
        "profile": "writer",
        "tls_verify": "/etc/ca.pem",
        "max_buffering_seconds": 3.0,
        "max_buffered_records": "500",
        "num_shards": "8",
        "max_attempts": 4,
        "initial_backoff_seconds": 1.0,
        "max_backoff_seconds": 30.0,
        "max_retry_seconds": 600.0,
        "max_in_flight": 2,
        "fail_fast": True,
        "adaptive_concurrency": False,
        "max_throttled_seconds": 900.0,
        "max_requests_per_second": 5.0,
        "max_records_per_second": 250.0,
        "dead_letter_threshold": 0.1,
        "threshold_windowing": str(windowing),
    }
    for name in ("max_buffering_seconds", "initial_backoff_seconds", "max_backoff_seconds",
                 "max_retry_seconds", "max_throttled_seconds", "max_requests_per_second",
                 "max_records_per_second", "dead_letter_threshold"):
        assert type(items[name]) is float, name
    assert type(items["adaptive_concurrency"]) is bool


def test_the_display_data_of_a_custom_client_factory_names_no_client_settings():
    items = display_items("kinesis", "PutRecords", None, BatchingConfig(), RetryConfig(), 1,
                          False, 0, None, SendingConfig())
    assert items["client"] == "custom client factory"
    for name in ("region", "endpoint", "profile", "tls_verify", "max_requests_per_second",
                 "max_records_per_second"):
        assert name not in items
    assert items["adaptive_concurrency"] is True
    assert items["dead_letter_threshold"] == 0.0
    assert items["threshold_windowing"] == "the input's"


def test_no_threshold_shows_no_threshold_items():
    items = display_items("kinesis", "PutRecords", ClientConfig(), BatchingConfig(),
                          RetryConfig(), 1, False, None, None)
    assert "dead_letter_threshold" not in items and "threshold_windowing" not in items
    assert "adaptive_concurrency" not in items and "max_throttled_seconds" not in items


@pytest.mark.parametrize("client, region", [
    (types.SimpleNamespace(meta=types.SimpleNamespace(region_name="ap-south-1")), "ap-south-1"),
    (types.SimpleNamespace(meta=types.SimpleNamespace(region_name="")), "unknown-region"),
    (types.SimpleNamespace(meta=types.SimpleNamespace(region_name=None)), "unknown-region"),
    (types.SimpleNamespace(meta=types.SimpleNamespace(region_name=7)), "unknown-region"),
    (types.SimpleNamespace(meta=types.SimpleNamespace()), "unknown-region"),
    (object(), "unknown-region"),
])
def test_the_region_of_a_client_or_unknown_region(client, region):
    assert region_of(client) == region


class _Sinks:
    def __init__(self):
        self.added = []

    def add(self, system, *segments):
        self.added.append((system,) + segments)


@pytest.fixture
def sinks(monkeypatch):
    recorder = _Sinks()
    monkeypatch.setattr(Lineage, "sinks", classmethod(lambda cls: recorder))
    return recorder


def test_a_bundle_reports_each_resource_once_sorted_wrapped_and_then_forgets_them(sinks):
    lineage = SinkLineage("iotsitewise", "eu-west-1")
    lineage.note("/windfarm/t02/power")
    lineage.note("/windfarm/t01/power")
    lineage.note_all(["/windfarm/t01/power", "site.a", "has space", "a:b", ""])
    lineage.report()
    assert sinks.added == [
        ("iotsitewise", "eu-west-1", "-"),
        ("iotsitewise", "eu-west-1", "/windfarm/t01/power"),
        ("iotsitewise", "eu-west-1", "/windfarm/t02/power"),
        ("iotsitewise", "eu-west-1", "`a:b`"),
        ("iotsitewise", "eu-west-1", "`has space`"),
        ("iotsitewise", "eu-west-1", "`site.a`"),
    ]
    lineage.report()
    assert len(sinks.added) == 6  # the next bundle starts empty
    lineage.note("/next")
    lineage.report()
    assert sinks.added[-1] == ("iotsitewise", "eu-west-1", "/next")


def test_a_region_with_a_reserved_character_is_wrapped_in_backticks(sinks):
    lineage = SinkLineage("kinesis", "local.test")
    lineage.note("stream")
    lineage.report()
    assert sinks.added == [("kinesis", "`local.test`", "stream")]


def test_a_batch_of_notes_past_the_bound_keeps_the_first_names_in_order(sinks):
    bound = lineage_module.MAX_RESOURCES_PER_BUNDLE
    assert bound == 200
    lineage = SinkLineage("s", "r")
    lineage.note_all(["/b/%04d" % n for n in range(bound - 2)])
    lineage.note_all(["/z/3", "/z/1", "/z/2", "/b/0000"])  # one known, two of three fit
    lineage.note_all(["/y"])  # full: dropped
    lineage.note("/x")  # full: dropped
    lineage.report()
    names = [added[2] for added in sinks.added]
    assert len(names) == bound
    assert names[-2:] == ["/z/1", "/z/2"] and "/z/3" not in names
    assert "/y" not in names and "/x" not in names


def test_a_batch_of_notes_that_fits_is_kept_whole(sinks):
    lineage = SinkLineage("s", "r")
    lineage.note_all(["/a", "/b"])
    lineage.note_all(["/b", "/c"])
    lineage.report()
    assert [added[2] for added in sinks.added] == ["/a", "/b", "/c"]


@pytest.mark.parametrize("url", ["https://[::1]:4599/x", "https://Emulator.Local:8443/p"])
def test_an_endpoint_without_user_information_is_displayed_exactly_as_given(url):
    assert lineage_module._without_userinfo(url) == url


def test_an_endpoint_with_user_information_and_no_host_keeps_no_host():
    assert lineage_module._without_userinfo("https://user:secret@/x") == "https:///x"
