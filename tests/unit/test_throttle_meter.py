"""botocore's hidden retries, counted from its events: throttled answers (by code or 429), the
wait before the next attempt, the bytes of each attempt; and botocore's own retries removed."""

import types

import boto3
import pytest

from beam_batchput.core.botocore_throttling import ThrottleMeter, take_retries_over
from tests.unit.test_sendloop import FakeClock


def _answer(code=None, status=400):
    http = types.SimpleNamespace(status_code=status)
    return (http, {"Error": {"Code": code}} if code else {})


def _send(body):
    return types.SimpleNamespace(body=body)


def test_throttled_answers_and_the_wait_before_the_next_attempt_are_counted():
    clock = FakeClock()
    meter = ThrottleMeter(clock)
    meter._on_send(request=_send(b"12345"))
    meter._on_answer(response=_answer("ThrottlingException"))
    clock.now += 0.25
    meter._on_send(request=_send("abc"))
    meter._on_answer(response=_answer(status=429))
    clock.now += 0.5
    meter._on_send(request=_send(b"xy"))
    meter._on_answer(response=_answer(status=200))
    assert meter.take() == (2, pytest.approx(0.75), 10)
    assert meter.take() == (0, 0.0, 0), "take starts the count again"


@pytest.mark.parametrize("response", [None, (), ("http",), _answer("ValidationException"),
                                      _answer(status=500)])
def test_other_answers_are_not_throttling(response):
    meter = ThrottleMeter(FakeClock())
    meter._on_answer(response=response)
    meter._on_send(request=_send(None))
    assert meter.take() == (0, 0.0, 0)


def test_the_meter_registers_on_a_botocore_client_and_not_on_a_fake():
    client = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                   region_name="eu-west-1").client("iotsitewise")
    assert ThrottleMeter(FakeClock()).attach(client) is True
    assert ThrottleMeter(FakeClock()).attach(object()) is False
    assert take_retries_over(client) is True and take_retries_over(object()) is False
