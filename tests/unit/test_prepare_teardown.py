"""The prepare step's dead-letter summary: what a streaming interval held back is logged when
the step is torn down, and a step torn down before its setup does nothing."""

import logging

from beam_batchput.core.prepare import PrepareFn
from beam_batchput.services.sitewise import SiteWiseService
from tests.clocks import FakeClock

NOW = 1_700_000_000


def _held_back_summary() -> PrepareFn:
    fn = PrepareFn(SiteWiseService(clock=FakeClock(NOW)), num_shards=1, chunk_size=10,
                   clock=FakeClock(NOW), log_interval_seconds=60.0)
    fn.setup()
    fn._log.note("validation", "MissingField", "/w", 0, "value is required")
    fn._log.flush()  # the first summary goes at once
    fn._log.note("validation", "MissingField", "/w", 0, "value is required")
    fn._log.flush()  # within the interval: held back
    return fn


def test_a_summary_held_back_by_the_interval_is_logged_at_teardown(caplog):
    fn = _held_back_summary()
    with caplog.at_level(logging.WARNING):
        caplog.clear()
        fn.teardown()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].batchput_counts == {
        "validation/MissingField": 1}
    assert warnings[0].batchput_service == "iotsitewise"


def test_the_prepare_steps_metrics_are_in_the_services_namespace():
    fn = _held_back_summary()
    assert fn._metrics.records_in.metric_name.namespace == "beam_batchput.iotsitewise"


def test_the_summary_interval_runs_on_the_steps_clock(caplog):
    fn = _held_back_summary()
    fn._clock.sleep(60.0)  # the step's clock moves a minute on; no real time passes
    with caplog.at_level(logging.WARNING):
        caplog.clear()
        fn._log.flush()
    assert [r.batchput_counts for r in caplog.records if r.levelno == logging.WARNING] == [
        {"validation/MissingField": 1}]


def test_a_prepare_step_torn_down_before_its_setup_does_nothing():
    PrepareFn(SiteWiseService(), num_shards=1, chunk_size=10, clock=FakeClock(NOW)).teardown()
