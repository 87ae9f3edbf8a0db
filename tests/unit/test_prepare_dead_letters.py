"""What the prepare step hands on: a refused record's dead letter in full (the record itself,
its code, message, stage, no attempt, its target, the clock's time) and its line in the
summary; an accepted record's text on its item."""

import json
import logging
import pickle

from apache_beam.pvalue import TaggedOutput

from beam_batchput.core.prepare import FAILED, PrepareFn
from beam_batchput.core.records import DeadLetter
from beam_batchput.services.sitewise import SiteWiseService
from tests.clocks import FakeClock
from tests.unit.test_prepare_step import NOW, _run

BAD = {"property_alias": "/plant/t1", "timestamp": NOW}  # no value


def _fn():
    clock = FakeClock(NOW)
    return PrepareFn(SiteWiseService(clock=clock), num_shards=1, chunk_size=10, clock=clock)


def test_a_refused_record_is_dead_lettered_in_full_and_summed_up(caplog):
    with caplog.at_level(logging.WARNING):
        out = _run(_fn(), [BAD])
    (tagged,) = out
    assert isinstance(tagged, TaggedOutput) and tagged.tag == FAILED
    letter = tagged.value
    assert isinstance(letter, DeadLetter)
    assert json.loads(letter.record) == BAD
    assert (letter.service, letter.stage, letter.attempts, letter.resource) == (
        "iotsitewise", "validation", 0, "/plant/t1")
    assert letter.error_code == "MissingField" and letter.error_message
    assert letter.failed_at == "2023-11-14T22:13:20+00:00"
    (summary,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert summary.batchput_counts == {"validation/MissingField": 1}
    assert {k: summary.batchput_example[k] for k in ("stage", "code", "resource", "attempts")} \
        == {"stage": "validation", "code": "MissingField", "resource": "/plant/t1",
            "attempts": 0}
    assert summary.batchput_example["message"] == letter.error_message


def test_an_accepted_records_item_carries_the_record_as_json():
    record = {"property_alias": "/plant/t1", "value": 2.5, "timestamp": NOW}
    ((_, (_, packed)),) = [value.value for value in _run(_fn(), [record])]
    (item,) = pickle.loads(packed)
    assert json.loads(item.record) == record
