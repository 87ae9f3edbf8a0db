"""The prepare step counts every record it takes in, once per bundle, and lets a service that
derives identity from the element timestamp see it."""

import pickle

from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from beam_batchput.core.prepare import PrepareFn
from tests.clocks import FakeClock
from tests.unit.test_prepare_step import NOW, _run, _SizedService


class _Tally:
    def __init__(self):
        self.total = 0

    def inc(self, n=1):
        self.total += n


class _Stamped(_SizedService):
    """Writes the element timestamp into the item's id, as a service deriving ids would."""

    def with_event_time(self, item):
        item.item_id = "%s@%d" % (item.item_id, item.event_time)
        return item


def _counted(fn, bundles):
    """Records in, as the step counts them, over bundles of records."""
    fn.setup()
    tally = fn._metrics.records_in = _Tally()
    for records in bundles:
        fn.start_bundle()
        for record in records:
            list(fn.process(record, WindowedValue(record, Timestamp(NOW), (GlobalWindow(),))))
        list(fn.finish_bundle())
    return tally.total


def test_every_record_taken_in_is_counted_once_over_bundles():
    fn = PrepareFn(_SizedService(), num_shards=1, chunk_size=10, clock=FakeClock(NOW))
    total = _counted(fn, [[{"size": 1, "n": n} for n in range(3)],
                             [{"size": 1, "n": 7}, {"size": 99, "n": 8}]])  # the last refused
    assert total == 5


def test_a_service_deriving_ids_from_the_element_timestamp_sees_it():
    fn = PrepareFn(_Stamped(), num_shards=1, chunk_size=10, clock=FakeClock(NOW))
    out = _run(fn, [{"size": 1, "n": 1}])
    (_, (count, packed)), = [value.value for value in out]
    (item,) = pickle.loads(packed)
    assert count == 1 and item.item_id == "1@%d" % (NOW * 1_000_000)
