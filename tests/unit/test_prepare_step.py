"""The prepare step: keys in range, refusal codes of its own, items too large for any request."""

import pickle

import pytest
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from beam_batchput.core.prepare import PrepareFn
from beam_batchput.core.service import InvalidRecord, Item, Limits, Service
from beam_batchput.services.sitewise import SiteWiseService
from tests.clocks import FakeClock

NOW = 1_700_000_000


class _SizedService(Service):
    """Items as large as the record says; 10 bytes a request."""

    name = "sized"
    limits = Limits(max_entries=5, max_request_bytes=10)

    def item(self, record):
        return Item(scope=("s",), group=None, payload=None, size=record["size"],
                    sort_key=str(record["n"]), item_id=str(record["n"]), resource="r%d" % record["n"])

    def build_request(self, scope, entries):  # pragma: no cover - not sent
        raise AssertionError("not used")

    def failures(self, request, response):  # pragma: no cover - not sent
        raise AssertionError("not used")


def _run(fn, records):
    fn.setup()
    fn.start_bundle()
    out = []
    for record in records:
        out.extend(fn.process(record, WindowedValue(record, Timestamp(NOW), (GlobalWindow(),))))
    out.extend(fn.finish_bundle())
    return out


def test_an_item_larger_than_any_request_is_refused_as_too_large():
    fn = PrepareFn(_SizedService(), num_shards=1, chunk_size=10, clock=FakeClock(NOW))
    with pytest.raises(InvalidRecord) as refused:
        fn._item({"size": 11, "n": 1})
    assert (refused.value.code, refused.value.resource) == ("ItemTooLarge", "r1")
    assert refused.value.message == "11 bytes, more than the 10 bytes one request may carry"
    assert fn._item({"size": 10, "n": 2}).size == 10


def test_a_record_that_is_not_a_mapping_is_refused_as_its_type():
    fn = PrepareFn(_SizedService(), num_shards=1, chunk_size=10, clock=FakeClock(NOW))
    with pytest.raises(InvalidRecord) as refused:
        fn._item(5)
    assert refused.value.code == "InvalidRecordType"


def test_keys_are_the_scope_and_a_shard_in_range():
    service = SiteWiseService()
    service.clock = FakeClock(NOW)
    records = [{"property_alias": "/k/%d" % n, "value": 1.0, "timestamp": NOW - 60}
               for n in range(200)]
    out = _run(PrepareFn(service, num_shards=3, chunk_size=1000, clock=FakeClock(NOW)), records)
    keys = [value.value[0] for value in out]
    assert {shard for _, shard in keys} == {0, 1, 2}
    assert all(isinstance(shard, int) for _, shard in keys)
    # Every record is in exactly one chunk, and a property's points share a shard.
    items = [item for value in out for item in pickle.loads(value.value[1][1])]
    assert sorted(i.resource for i in items) == sorted(r["property_alias"] for r in records)
    assert sum(value.value[1][0] for value in out) == 200
