"""The send step's setup: its sender fails fast and waits on the writer's settings and clock,
its threads are as many as requests in flight and named for the service, its metrics are
the service's, and the client's throttled retries are metered."""

import threading

from beam_batchput.core.config import ClientConfig, RetryConfig
from beam_batchput.core.sending import SendFn
from beam_batchput.services.sitewise import SiteWiseService
from tests.clocks import FakeClock


def _set_up(fail_fast):
    clock = FakeClock(0)
    client = ClientConfig(region_name="us-east-1", endpoint_url="http://sitewise.invalid"
                          ).create_client("iotsitewise")
    fn = SendFn(SiteWiseService(), lambda: client, RetryConfig(max_attempts=2), 3, fail_fast,
                clock)
    fn.setup()
    return fn, client, clock


def test_the_sender_gets_the_writers_fail_fast_retry_and_clock():
    for fail_fast in (True, False):
        fn, _, clock = _set_up(fail_fast)
        try:
            assert fn._sender._fail_fast is fail_fast
            assert fn._sender._clock is clock
            assert fn._sender._retry == RetryConfig(max_attempts=2)
        finally:
            fn.teardown()


def test_requests_in_flight_run_on_as_many_threads_named_for_the_service():
    fn, _, _ = _set_up(False)
    try:
        names = set()
        barrier = threading.Barrier(3, timeout=30)

        def work():
            names.add(threading.current_thread().name)
            barrier.wait()

        futures = [fn._executor.submit(work) for _ in range(3)]
        for future in futures:
            future.result(timeout=30)
        assert len(names) == 3
        assert all(name.startswith("beam_batchput-iotsitewise") for name in names)
        assert fn._executor._max_workers == 3
    finally:
        fn.teardown()


def test_the_send_steps_metrics_are_the_services_and_the_client_is_metered():
    fn, client, _ = _set_up(False)
    try:
        assert fn._metrics.records_written.metric_name.namespace == "beam_batchput.iotsitewise"
        handlers = client.meta.events._emitter._handlers.prefix_search(
            "needs-retry.iotsitewise.BatchPutAssetPropertyValue")
        assert any(getattr(h, "__name__", "") == "_on_answer" for h in handlers)
    finally:
        fn.teardown()


def test_the_send_loop_gets_the_writers_parts_and_a_bounded_queue():
    from beam_batchput.core.concurrency import AdaptiveConcurrency, FixedConcurrency
    from beam_batchput.core.config import SendingConfig
    from beam_batchput.core.ratecap import shared_caps
    from beam_batchput.core.sending import _QUEUED_PER_SENDER

    fn, client, clock = _set_up(False)
    try:
        loop = fn._loop
        assert (loop._service, loop._sender, loop._client, loop._executor) == (
            fn._service, fn._sender, client, fn._executor)
        assert loop._retry == RetryConfig(max_attempts=2) and loop._clock == clock.monotonic
        # Requests queued per sender thread, each of up to 100 SiteWise values.
        assert loop._max_pending == 3 * _QUEUED_PER_SENDER * 100
        adaptive = loop._concurrency
        assert isinstance(adaptive, AdaptiveConcurrency) and adaptive.max_in_flight == 3
        assert adaptive._clock == clock.monotonic
        assert fn._lineage._service == "iotsitewise" and fn._lineage._region == "us-east-1"
        assert (fn._log._service, fn._log._clock) == ("iotsitewise", clock.monotonic)
    finally:
        fn.teardown()
    fixed = SendFn(SiteWiseService(), lambda: client, RetryConfig(), 2, False, clock,
                   sending=SendingConfig(adaptive_concurrency=False, max_requests_per_second=4.0),
                   caps_key="k")
    fixed.setup()
    try:
        concurrency = fixed._loop._concurrency
        assert type(concurrency) is FixedConcurrency and concurrency.max_in_flight == 2
        # The caps shared by writers of this key, settings and clock in the process.
        assert fixed._loop._caps is shared_caps("iotsitewise|k", 4.0, None, clock=clock)
    finally:
        fixed.teardown()
