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


def test_equal_windows_share_chunks_and_the_caches_stay_bounded(monkeypatch):
    from apache_beam.transforms.window import IntervalWindow

    from beam_batchput.core import prepare

    monkeypatch.setattr(prepare, "_KEY_CACHE_SIZE", 3)
    monkeypatch.setattr(prepare, "_WINDOW_CACHE_SIZE", 2)
    service = SiteWiseService()
    service.clock = FakeClock(NOW)
    fn = PrepareFn(service, num_shards=2, chunk_size=1000, clock=FakeClock(NOW))
    fn.setup()
    fn.start_bundle()
    out = []
    for n in range(40):
        # A new window object per record: equal ones (n % 2) share a chunk.
        window = IntervalWindow(NOW - 60 * (n % 2 + 1), NOW - 60 * (n % 2))
        record = {"property_alias": "/w/%d" % (n % 5), "value": 1.0, "timestamp": NOW - 90.5}
        out.extend(fn.process(record, WindowedValue(record, Timestamp(NOW - 90), (window,))))
        assert len(fn._keys) <= 3 and len(fn._window_ids) <= 2
    out.extend(fn.finish_bundle())
    chunks = {(value.value[0], value.windows[0]): pickle.loads(value.value[1][1]) for value in out}
    assert len(chunks) == len(out)  # one chunk per key and window
    assert sum(len(items) for items in chunks.values()) == 40
    for (key, _), items in chunks.items():
        # Each chunk's items have the key their shard key gives.
        assert {fn._key(item) for item in items} == {key}
    assert {window for _, window in chunks} == {
        IntervalWindow(NOW - 120, NOW - 60), IntervalWindow(NOW - 60, NOW)}


def test_a_full_chunk_goes_out_at_once_and_keeps_its_window():
    service = SiteWiseService()
    service.clock = FakeClock(NOW)
    fn = PrepareFn(service, num_shards=1, chunk_size=3, clock=FakeClock(NOW))
    fn.setup()
    fn.start_bundle()
    emitted = []
    for n in range(7):
        record = {"property_alias": "/c", "value": float(n), "timestamp": NOW - 10.5}
        emitted.append(len(list(fn.process(record, WindowedValue(record, Timestamp(NOW),
                                                                 (GlobalWindow(),))))))
    assert emitted == [0, 0, 1, 0, 0, 1, 0]
    [last] = list(fn.finish_bundle())
    assert last.value[1][0] == 1 and last.windows == (GlobalWindow(),)
