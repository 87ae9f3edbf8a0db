"""The dead-letter summary line as an operator reads it, its structured fields, and the interval
boundary (a summary exactly one interval after the last goes out)."""

import logging

from beam_batchput.core.logs import DeadLetterLog


def _summaries(caplog):
    return [r for r in caplog.records if r.name == "summary-line"]


def test_the_summary_line_names_the_counts_and_one_example(caplog):
    log = DeadLetterLog(logging.getLogger("summary-line"), "iotsitewise")
    log.note("entry", "ResourceNotFoundException", "/p/0", 2, "not found", count=3)
    log.note("validation", "InvalidValue", "/p/1", 0, "bad value")
    log.flush()
    (record,) = _summaries(caplog)
    assert record.getMessage() == (
        "iotsitewise: 4 records dead-lettered (entry/ResourceNotFoundException 3, "
        "validation/InvalidValue 1); e.g. entry ResourceNotFoundException at /p/0 after "
        "2 attempts: not found")
    assert (record.batchput_event, record.batchput_service) == ("dead_letters", "iotsitewise")


def test_a_summary_exactly_one_interval_after_the_last_goes_out(caplog):
    now = [100.0]
    log = DeadLetterLog(logging.getLogger("summary-line"), "connect", 60.0, lambda: now[0])
    log.note("entry", "ValidationException", "t", 1, "bad")
    log.flush()
    now[0] += 60.0
    log.note("entry", "ValidationException", "t", 1, "bad")
    log.flush()
    assert [r.batchput_count for r in _summaries(caplog)] == [1, 1]
