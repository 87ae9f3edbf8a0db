"""The dead-letter summary: counts by stage and code, one example, at most one line per interval."""

import logging

from beam_batchput.core.logs import DeadLetterLog, log_fields


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _summaries(caplog):
    return [r for r in caplog.records if r.name == "summary-test"]


def test_one_warning_sums_every_dead_letter_noted_since_the_last(caplog):
    log = DeadLetterLog(logging.getLogger("summary-test"), "iotsitewise")
    for n in range(50):
        log.note("entry", "ResourceNotFoundException", "/p/%d" % n, 1, "not found")
    log.note("retries_exhausted", "ThrottlingException", "/p/x", 5, "x" * 500, count=3)
    log.flush()
    (record,) = _summaries(caplog)
    assert record.levelno == logging.WARNING
    assert record.batchput_count == 53
    assert record.batchput_counts == {"entry/ResourceNotFoundException": 50,
                                      "retries_exhausted/ThrottlingException": 3}
    assert record.batchput_example == {"stage": "entry", "code": "ResourceNotFoundException",
                                       "resource": "/p/0", "attempts": 1, "message": "not found"}
    log.flush()
    assert len(_summaries(caplog)) == 1, "nothing new, nothing logged"


def test_within_the_interval_counts_carry_over_to_the_next_summary(caplog):
    clock = _Clock()
    log = DeadLetterLog(logging.getLogger("summary-test"), "connect", 60.0, clock)
    log.note("entry", "ValidationException", "t", 1, "bad")
    log.flush()                      # first summary: nothing logged before
    clock.now += 10
    log.note("entry", "ValidationException", "t", 1, "bad", count=4)
    log.flush()                      # 10 s later: held back
    assert [r.batchput_count for r in _summaries(caplog)] == [1]
    clock.now += 55
    log.flush()                      # 65 s after the first: the held counts go out
    assert [r.batchput_count for r in _summaries(caplog)] == [1, 4]
    log.note("request", "AccessDeniedException", "t", 1, "denied")
    log.flush(force=True)            # teardown: whatever is left
    assert [r.batchput_count for r in _summaries(caplog)] == [1, 4, 1]


def test_example_message_is_cut_to_two_hundred_characters(caplog):
    log = DeadLetterLog(logging.getLogger("summary-test"), "datazone")
    log.note("entry", "X", "r", 1, "m" * 1000)
    log.flush()
    (record,) = _summaries(caplog)
    assert record.batchput_example["message"] == "m" * 200


def test_log_fields_prefix_every_name():
    assert log_fields("retry", "iotsitewise", 3, attempt=2) == {
        "batchput_event": "retry", "batchput_service": "iotsitewise", "batchput_count": 3,
        "batchput_attempt": 2}
