"""What the fault proofs needed of the emulator: prompt first answers, quiet abandoned answers."""

from __future__ import annotations

import threading
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

from beam_batchput._botocore import new_session
from beam_batchput.emulator import Emulator, FaultConfig, _regex
from tests.clocks import HeldClock


def test_concurrent_first_requests_build_the_pattern_tables_once(monkeypatch):
    monkeypatch.setattr(_regex, "_RANGES", None)
    builds = []
    real = _regex._build_category_ranges
    monkeypatch.setattr(_regex, "_build_category_ranges", lambda: builds.append(1) or real())
    threads = [threading.Thread(target=_regex._category_ranges) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert builds == [1]


def test_a_new_emulator_has_its_pattern_tables_before_the_first_request(monkeypatch):
    monkeypatch.setattr(_regex, "_RANGES", None)
    Emulator()
    # Built whole: letters, digits, and their subcategories.
    assert {"L", "Lu", "N", "Nd"} <= set(_regex._RANGES)


def _client(endpoint_url: str, read_timeout: float):
    session = boto3.Session(botocore_session=new_session())
    return session.client("iotevents-data", region_name="us-east-1", endpoint_url=endpoint_url,
                          aws_access_key_id="testing", aws_secret_access_key="testing",
                          config=Config(read_timeout=read_timeout,
                                        retries={"total_max_attempts": 1}))


def test_an_answer_the_client_stopped_waiting_for_is_logged_processed_without_a_traceback(
        capsys):
    message = {"messageId": "m1", "inputName": "in", "payload": b"{}"}
    held = HeldClock()  # the first answer waits until its client gave up
    with Emulator(clock=held, faults={"iotevents-data": FaultConfig(
            slow_response_rate=1.0, slow_response_ms=200)}) as emulator:
        try:
            with pytest.raises(ReadTimeoutError):
                _client(emulator.endpoint_url, 0.05).batch_put_message(messages=[message])
        finally:
            held.release()
        # A second slow answer, awaited: by then the first one has been written.
        _client(emulator.endpoint_url, 5).batch_put_message(messages=[dict(message,
                                                                           messageId="m2")])
        log = emulator.requests()
    assert [(r["status"], r["delaySeconds"], r["response"]) for r in log] == [
        (200, 0.2, {"BatchPutMessageErrorEntries": []})] * 2
    assert "Traceback" not in capsys.readouterr().err


def test_the_request_log_times_each_request_from_arrival_to_its_answer_after_latency():
    message = {"messageId": "m1", "inputName": "in", "payload": b"{}"}
    with Emulator(faults={"iotevents-data": FaultConfig(latency_ms=100)}) as emulator:
        before = time.time()
        _client(emulator.endpoint_url, 5).batch_put_message(messages=[message])
        after = time.time()
        (record,) = emulator.requests()
    assert before <= record["receivedAt"] <= record["answeredAt"] <= after
    # The injected latency is inside the span, so the span times the request as served.
    assert record["answeredAt"] - record["receivedAt"] >= 0.1
