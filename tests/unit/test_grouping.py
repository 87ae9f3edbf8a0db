"""The bounded path's packing step: the stateful step's packing rules, on a grouped iterable."""

import pickle

import apache_beam as beam
from apache_beam.transforms import window
from apache_beam.transforms.trigger import AccumulationMode, AfterCount, Repeatedly

from beam_batchput.core.batching import _HARD_CAP_FACTOR
from beam_batchput.core.grouping import PackGroupedFn, can_group
from beam_batchput.core.packing import pack
from beam_batchput.core.service import Limits
from tests.unit.test_packing import SITEWISE_LIKE, entry_id, item


class _Service:
    limits = SITEWISE_LIKE
    entry_id = staticmethod(entry_id)


def _chunks(items, size):
    return [(len(items[i:i + size]), pickle.dumps(items[i:i + size]))
            for i in range(0, len(items), size)]


class _Counting:
    """An iterable of chunks that records how many were taken before each request."""

    def __init__(self, chunks):
        self.chunks, self.taken = chunks, 0

    def __iter__(self):
        for chunk in self.chunks:
            self.taken += 1
            yield chunk


def _ids(requests):
    return sorted(it.item_id for r in requests for it in r.items)


def test_full_requests_go_while_iterating_and_partial_entries_wait():
    # 20 properties x 10 points arrive property by property, in chunks of 10, with
    # max_buffered 50: a full request (ten full entries) needs 100 items, so the first
    # goes out after the tenth chunk, before the rest of the group is read.
    items = [item("p%02d" % p, n) for p in range(20) for n in range(10)]
    chunks = _Counting(_chunks(items, 10))
    fn = PackGroupedFn(_Service(), max_buffered=50)
    seen = [(chunks.taken, request) for request in fn.process((("", 0), chunks))]
    assert _ids(r for _, r in seen) == sorted(it.item_id for it in items)
    assert [taken for taken, _ in seen] == [10, 20]
    assert all(len(r.entries) == 10 for _, r in seen)


def test_partial_entries_are_packed_at_the_end_like_the_stateful_flush():
    items = [item("p%02d" % p, n) for p in range(7) for n in range(3)]
    fn = PackGroupedFn(_Service(), max_buffered=5)
    requests = list(fn.process((("", 0), _chunks(items, 4))))
    assert _ids(requests) == sorted(it.item_id for it in items)
    # No entry was full, so all waited for the end and were packed together.
    assert len(requests) == len(pack(items, SITEWISE_LIKE, entry_id))


def test_past_the_hard_cap_everything_goes():
    # Every property has one point: no entry is ever full, so items pile up until
    # the hard cap, then go, and the held items never exceed (cap + 1) * max_buffered.
    max_buffered = 10
    items = [item("p%03d" % p, 0) for p in range(200)]
    chunks = _Counting(_chunks(items, 5))
    fn = PackGroupedFn(_Service(), max_buffered=max_buffered)
    firsts = []
    for request in fn.process((("", 0), chunks)):
        firsts.append(chunks.taken)
    held_at_first = firsts[0] * 5
    assert held_at_first == _HARD_CAP_FACTOR * max_buffered
    assert firsts[0] < len(chunks.chunks)


def test_replays_of_a_group_give_identical_requests():
    items = [item("p%02d" % p, n) for p in range(13) for n in range(7)]
    chunks = _chunks(items, 6)
    fn = PackGroupedFn(_Service(), max_buffered=20)
    as_ids = lambda reqs: [[(e.entry_id, [it.item_id for it in e.items]) for e in r.entries]
                           for r in reqs]
    assert as_ids(fn.process((("", 0), chunks))) == as_ids(fn.process((("", 0), chunks)))


def test_only_windowings_that_fire_once_without_merging_are_grouped():
    p = beam.Pipeline()
    base = p | beam.Create([1])
    assert can_group(base)
    assert can_group(base | "Fixed" >> beam.WindowInto(window.FixedWindows(60)))
    assert not can_group(base | "Sessions" >> beam.WindowInto(window.Sessions(60)))
    assert not can_group(base | "Repeated" >> beam.WindowInto(
        window.GlobalWindows(), trigger=Repeatedly(AfterCount(1)),
        accumulation_mode=AccumulationMode.DISCARDING))
