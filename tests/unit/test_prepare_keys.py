"""The prepare step's output: keys of scope and shard, never shared by two scopes, on full
chunks and at the bundle's end alike, each chunk in its record's window at its earliest
record's time; a record of another type refused by name."""

import pytest
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from beam_batchput.core.prepare import PrepareFn
from beam_batchput.core.service import InvalidRecord, Item
from tests.clocks import FakeClock
from tests.unit.test_prepare_step import NOW, _run, _SizedService


class _Scoped(_SizedService):
    """The record names its scope; every item has the same shard key."""

    def item(self, record):
        return Item(scope=(record["scope"],), group=None, payload=None, size=1,
                    sort_key=str(record["n"]), item_id=str(record["n"]), resource="r")

    def shard_key(self, item):
        return "same"


def _keys(chunk_size):
    fn = PrepareFn(_Scoped(), num_shards=1, chunk_size=chunk_size, clock=FakeClock(NOW))
    out = _run(fn, [{"scope": scope, "n": n} for n, scope in enumerate(["ws1", "ws2", "ws1"])])
    assert all(value.windows == (GlobalWindow(),) for value in out)
    return sorted((value.value[0], value.value[1][0]) for value in out)


def test_items_of_two_scopes_with_one_shard_key_never_share_a_key():
    assert _keys(chunk_size=10) == [(("ws1", 0), 2), (("ws2", 0), 1)]


def test_full_chunks_go_out_keyed_and_in_their_window():
    assert _keys(chunk_size=1) == [(("ws1", 0), 1), (("ws1", 0), 1), (("ws2", 0), 1)]


def test_a_chunk_goes_out_at_its_earliest_records_timestamp():
    fn = PrepareFn(_Scoped(), num_shards=1, chunk_size=10, clock=FakeClock(NOW))
    fn.setup()
    fn.start_bundle()
    for n, seconds in enumerate((NOW + 5, NOW - 3, NOW)):
        record = {"scope": "ws1", "n": n}
        list(fn.process(record, WindowedValue(record, Timestamp(seconds), (GlobalWindow(),))))
    (value,) = list(fn.finish_bundle())
    assert value.timestamp == Timestamp(NOW - 3)


def test_a_record_of_another_type_is_refused_with_its_type_named():
    fn = PrepareFn(_Scoped(), num_shards=1, chunk_size=10, clock=FakeClock(NOW))
    with pytest.raises(InvalidRecord) as refused:
        fn._item(5)
    assert (refused.value.code, refused.value.message) == (
        "InvalidRecordType", "a record must be a dict, a NamedTuple or a beam.Row, not int")
