"""What the send step's setup does, seen from outside: with adaptive concurrency botocore
makes one attempt per call (the writer paces the retries), throttling inside botocore's own
retries is counted, a records-per-second cap spaces the sends, and a writer that logs its
dead letters at an interval summarises bundle after bundle.

A real SiteWise client answers in process (``before-send``); the clock is a fake one."""

import json
import logging
import time

from apache_beam.transforms.window import GlobalWindow
from botocore.awsrequest import AWSResponse

from beam_batchput import ClientConfig, RetryConfig, SendingConfig
from beam_batchput.core.packing import pack
from beam_batchput.core.sending import SendFn
from beam_batchput.services.sitewise import SiteWiseService
from tests.clocks import FakeClock
from tests.unit.test_prebuilt import _frozen_signing, _Raw  # noqa: F401 (an autouse fixture)
from tests.unit.test_writer_metrics import _counter, container  # noqa: F401 (a fixture)

NOW = 1_700_000_000
ASSET = "a1b2c3d4-0000-4000-8000-000000000001"
PROPERTY = "a1b2c3d4-0000-4000-8000-000000000002"
ACCEPTED = (200, {"errorEntries": []}, {})
THROTTLED = (429, {"__type": "ThrottlingException", "message": "Rate exceeded"},
             {"x-amzn-ErrorType": "ThrottlingException"})
REFUSED = (400, {"__type": "InvalidRequestException", "message": "no such asset"},
           {"x-amzn-ErrorType": "InvalidRequestException"})


def _client(attempts, answers):
    """A SiteWise client (botocore's standard retries, 3 attempts) answering ``answers``
    in turn (the last one again once they run out); the body size of every HTTP attempt
    is appended to ``attempts``."""
    client = ClientConfig(region_name="us-east-1", endpoint_url="http://sitewise.invalid",
                          botocore_max_attempts=3).create_client("iotsitewise")

    def answer(request, **kwargs):
        attempts.append(len(request.body))
        status, body, headers = answers[min(len(attempts), len(answers)) - 1]
        return AWSResponse(request.url, status, dict(headers, **{
            "content-type": "application/json"}), _Raw(json.dumps(body).encode()))

    client.meta.events.register("before-send.iotsitewise", answer)
    return client


def _requests(service, count, per_request):
    """``count`` requests of ``per_request`` values of one property each."""
    # SiteWise takes the last 7 days: an hour ago, by the system's clock (the service's).
    start = int(time.time()) - 3600
    records = [{"asset_id": ASSET, "property_id": PROPERTY, "value": float(n),
                "timestamp": start + n} for n in range(count * per_request)]
    requests = []
    for chunk in range(count):
        items = [service.item(r) for r in records[chunk * per_request:(chunk + 1) * per_request]]
        requests.extend(pack(items, service.limits, service.entry_id))
    assert len(requests) == count
    return requests


def _send(fn, requests):
    """Sends ``requests`` in one bundle; (receipts, dead letters)."""
    outputs = []
    for request in requests:
        outputs.extend(fn.process(request, GlobalWindow()))
    outputs.extend(fn.finish_bundle())
    failed = [o.value.value for o in outputs if getattr(o, "tag", None) == "failed"]
    written = [o for o in outputs if getattr(o, "tag", None) != "failed"]
    return written, failed


def _send_fn(client, clock, retry, sending, **kwargs):
    fn = SendFn(SiteWiseService(), lambda: client, retry, 4, False, clock, sending=sending,
                caps_key="send-setup-effects-%d" % id(clock), **kwargs)
    fn.setup()
    return fn


def test_with_adaptive_concurrency_botocore_makes_one_attempt_a_call():
    attempts = []
    clock = FakeClock(NOW)
    fn = _send_fn(_client(attempts, [THROTTLED, THROTTLED, ACCEPTED]), clock,
                  RetryConfig(max_attempts=2, initial_backoff_seconds=0.01), SendingConfig())
    try:
        written, failed = _send(fn, _requests(fn._service, 1, 3))
    finally:
        fn.teardown()
    # Three HTTP attempts, each one a send of the writer, which waited between them on its
    # own clock: botocore resent nothing itself (it would have made all three inside the
    # writer's first send, outside its pacing).
    assert len(attempts) == 3 and failed == []
    assert [receipt.value.attempts for receipt in written] == [3] * 3
    assert len(clock.sleeps) >= 2


def test_throttling_inside_botocores_retries_is_counted(container):  # noqa: F811
    attempts = []
    fn = _send_fn(_client(attempts, [THROTTLED, ACCEPTED]), FakeClock(NOW),
                  RetryConfig(max_attempts=1), SendingConfig(adaptive_concurrency=False))
    try:
        written, failed = _send(fn, _requests(fn._service, 1, 3))
    finally:
        fn.teardown()
    # Fixed concurrency keeps botocore's retries: it was refused once, then accepted,
    # within the writer's one attempt; the refusal is counted all the same.
    assert len(attempts) == 2
    assert len(written) == 3 and failed == []
    assert _counter(container, "throttled_requests") == 1
    # Both bodies sent count, the one botocore resent too.
    assert _counter(container, "bytes_sent") == sum(attempts)


def test_a_records_per_second_cap_spaces_the_sends():
    attempts = []
    clock = FakeClock(NOW)
    fn = _send_fn(_client(attempts, [ACCEPTED]), clock, RetryConfig(max_attempts=1),
                  SendingConfig(max_records_per_second=10.0))
    try:
        written, failed = _send(fn, _requests(fn._service, 4, 10))
    finally:
        fn.teardown()
    assert len(attempts) == 4 and len(written) == 40 and failed == []
    # 40 records at 10 a second: whatever the first burst, the last request waits for
    # the records before it, at least 2 s after the first.
    assert clock.elapsed >= 2.0


def test_dead_letters_are_summarised_bundle_after_bundle_at_the_interval(caplog):
    attempts = []
    clock = FakeClock(NOW)
    fn = _send_fn(_client(attempts, [REFUSED]), clock, RetryConfig(max_attempts=1),
                  SendingConfig(), log_interval_seconds=5.0)
    try:
        with caplog.at_level(logging.WARNING, logger="beam_batchput"):
            for bundle in range(3):
                _, failed = _send(fn, _requests(fn._service, 1, 2))
                assert [d.error_code for d in failed] == ["InvalidRequestException"] * 2
                clock.elapsed += 6.0
    finally:
        fn.teardown()
    summaries = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(summaries) >= 2, [r.getMessage() for r in caplog.records]
    assert all("InvalidRequestException" in r.getMessage() for r in summaries)
