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
