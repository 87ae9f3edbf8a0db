"""The batching step's paths that could lose or duplicate records, run record by record.

The DoFn is driven directly with in-memory state and timers, so every path
(mid-window flush keeping partial entries back, the hard cap, the window end,
the buffering bound) runs deterministically, and each test keeps a ledger: the
ids of the records sent, compared with the ids fed in, not a count.
"""

from __future__ import annotations

import collections
import pickle
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest
from apache_beam.transforms.window import GlobalWindow, IntervalWindow
from apache_beam.utils.timestamp import Duration, Timestamp

from beam_batchput.core.batching import batch_fn_class
from beam_batchput.core.service import Entry, Failure, Item, Limits, Request, Service
from tests.clocks import FakeClock

# The toy service's shape, written here: 3 entries of up to 4 values a request.
_ENTRIES, _VALUES = 3, 4


class _GroupedService(Service):
    """Items grouped by ``group``; 3 entries of 4 values a request, no byte limit."""

    name = "toy"
    limits = Limits(max_entries=_ENTRIES, max_values_per_entry=_VALUES,
                    default_buffered_records=10)

    def item(self, record: Any) -> Item:  # pragma: no cover - items are built directly
        raise AssertionError("not used")

    def build_request(self, scope: Tuple[str, ...], entries: Sequence[Entry]) -> dict:
        raise AssertionError("not used")  # pragma: no cover

    def failures(self, request: Request, response: Any) -> List[Failure]:
        raise AssertionError("not used")  # pragma: no cover


class _Bag:
    def __init__(self) -> None:
        self.values: List[bytes] = []

    def add(self, value: bytes) -> None:
        self.values.append(value)

    def read(self) -> List[bytes]:
        return list(self.values)

    def clear(self) -> None:
        self.values = []


class _Cell:
    def __init__(self) -> None:
        self.value: Any = None

    def read(self) -> Any:
        return self.value

    def write(self, value: Any) -> None:
        self.value = value

    def clear(self) -> None:
        self.value = None


class _Timer:
    def __init__(self) -> None:
        self.fires_at: List[Timestamp] = []
        self.cleared = 0

    def set(self, when: Timestamp) -> None:
        self.fires_at.append(when)

    def clear(self) -> None:
        self.cleared += 1


class _State:
    """One key and window's state and timers."""

    def __init__(self) -> None:
        self.buffer, self.count, self.next_check = _Bag(), _Cell(), _Cell()
        self.timer_set, self.window_end, self.buffering = _Cell(), _Timer(), _Timer()

    def buffered_ids(self) -> List[str]:
        return [item.item_id for stored in self.buffer.read() for item in pickle.loads(stored)]


def _item(group: str, n: int) -> Item:
    return Item(scope=("s",), group=group, payload=n, size=1, sort_key="%s/%06d" % (group, n),
                item_id="%s#%d" % (group, n), resource=group)


def _chunk(items: List[Item]) -> Tuple[int, bytes]:
    return len(items), pickle.dumps(items)


def _ids(requests: Sequence[Request]) -> List[str]:
    return [item.item_id for request in requests for item in request.items]


class _Driver:
    """Feeds chunks to one batching DoFn and keeps the ledger of what it sent."""

    def __init__(self, max_buffered: int, bounded: bool = True,
                 clock: Optional[FakeClock] = None, window: Any = None,
                 max_buffering_seconds: float = 5.0) -> None:
        self.bounded = bounded
        self.fn = batch_fn_class(bounded, "ledger")(_GroupedService(), max_buffered,
                                                  max_buffering_seconds, clock or FakeClock(100.0))
        self.state = _State()
        self.window = window or GlobalWindow()
        self.sent: List[str] = []

    def add(self, items: List[Item]) -> List[str]:
        s = self.state
        kwargs: Dict[str, Any] = dict(window=self.window, buffer=s.buffer, count=s.count,
                                      next_check=s.next_check, window_end=s.window_end)
        if not self.bounded:
            kwargs.update(timer_set=s.timer_set, buffering=s.buffering)
        requests = list(self.fn.process((("s", 0), _chunk(items)), **kwargs))
        self._check_limits(requests)
        self.sent.extend(_ids(requests))
        return _ids(requests)

    def fire(self, timer: str) -> List[str]:
        s = self.state
        kwargs: Dict[str, Any] = dict(buffer=s.buffer, count=s.count, next_check=s.next_check)
        if not self.bounded:
            kwargs["timer_set"] = s.timer_set
            if timer == "_on_window_end":
                kwargs["buffering"] = s.buffering
        requests = list(getattr(self.fn, timer)(**kwargs))
        self._check_limits(requests)
        self.sent.extend(_ids(requests))
        return _ids(requests)

    @staticmethod
    def _check_limits(requests: Sequence[Request]) -> None:
        for request in requests:
            assert request.scope == ("s",)
            assert 1 <= len(request.entries) <= _ENTRIES
            assert all(1 <= len(entry.items) <= _VALUES for entry in request.entries)


def _assert_ledger(sent: List[str], fed: List[Item]) -> None:
    duplicates = [i for i, n in collections.Counter(sent).items() if n > 1]
    assert not duplicates, "sent twice: %s" % duplicates[:10]
    assert sorted(sent) == sorted(item.item_id for item in fed), (
        "lost: %s" % sorted({i.item_id for i in fed} - set(sent))[:10])


def test_a_mid_window_flush_sends_full_requests_and_keeps_partial_entries_back():
    driver = _Driver(max_buffered=20)
    # Groups a, b, c get 4 values each (full entries: one full request); d and e
    # get 3 and 2 (partial): 17 items, under the threshold, nothing goes.
    fed = ([_item(g, n) for g in "abc" for n in range(4)]
           + [_item("d", n) for n in range(3)] + [_item("e", n) for n in range(2)])
    assert driver.add(fed) == []
    assert driver.state.count.read() == 17
    # Three more values of f: 20 buffered, the threshold. The full request
    # (a, b, c) goes; d, e and f's partial entries stay, record by record.
    more = [_item("f", n) for n in range(3)]
    fed += more
    sent = driver.add(more)
    assert sorted(sent) == sorted("%s#%d" % (g, n) for g in "abc" for n in range(4))
    kept = sorted(driver.state.buffered_ids())
    assert kept == sorted(["d#0", "d#1", "d#2", "e#0", "e#1", "f#0", "f#1", "f#2"])
    assert driver.state.count.read() == 8
    # The next look comes max_buffered records after the leftovers.
    assert driver.state.next_check.read() == 8 + 20
    # The window's end sends what was kept back; nothing is lost or sent twice.
    driver.fire("_on_window_end")
    _assert_ledger(driver.sent, fed)
    assert driver.state.buffer.read() == [] and driver.state.count.read() is None


def test_leftovers_join_later_items_of_their_group_and_go_once_full():
    driver = _Driver(max_buffered=6)
    fed = [_item("a", n) for n in range(3)] + [_item("b", n) for n in range(3)]
    assert driver.add(fed) == []                # 6 partial values: all kept back
    assert sorted(driver.state.buffered_ids()) == sorted(i.item_id for i in fed)
    assert driver.state.next_check.read() == 6 + 6
    # Below the next look (12): buffered, not looked at, even though a is now full.
    more = [_item("a", 3), _item("b", 3), _item("c", 0), _item("c", 1)]
    fed += more
    assert driver.add(more) == []
    # At 12: a and b are full entries, c's two wait; a + b + c is not a full
    # request (2 full entries of 3), so everything stays, then goes at window end.
    more = [_item("c", 2), _item("c", 3)]
    fed += more
    sent = driver.add(more)
    assert sorted(sent) == sorted(i.item_id for i in fed)  # 3 full entries: one full request
    assert driver.state.buffered_ids() == []
    assert driver.fire("_on_window_end") == []
    _assert_ledger(driver.sent, fed)


def test_the_hard_cap_sends_everything_once_partial_entries_pile_up():
    max_buffered = 5
    driver = _Driver(max_buffered=max_buffered)
    fed: List[Item] = []
    peak = 0
    # Every group gets one value: entries never fill, so without the cap the
    # buffer would grow without bound.
    for n in range(60):
        item = _item("g%02d" % n, 0)
        fed.append(item)
        driver.add([item])
        peak = max(peak, len(driver.state.buffered_ids()))
    # At 4 x max_buffered leftovers everything went, packed in full requests.
    assert peak <= 4 * max_buffered
    assert len(driver.sent) >= 40
    assert set(driver.sent) <= {i.item_id for i in fed}
    driver.fire("_on_window_end")
    _assert_ledger(driver.sent, fed)


def test_the_hard_cap_is_four_times_max_buffered_exactly():
    max_buffered = 5
    driver = _Driver(max_buffered=max_buffered)
    fed = [_item("g%02d" % n, 0) for n in range(19)]
    for item in fed:
        assert driver.add([item]) == []           # 19 partial entries: under the cap
    last = _item("g19", 0)
    fed.append(last)
    assert len(driver.add([last])) == 20          # the 20th reaches 4 x 5: all go
    assert driver.state.buffered_ids() == [] and driver.state.count.read() == 0
    _assert_ledger(driver.sent, fed)


def test_one_large_chunk_is_split_into_full_requests_and_a_remainder():
    driver = _Driver(max_buffered=10)
    fed = [_item("g%d" % (n // _VALUES), n % _VALUES) for n in range(50)]
    sent = driver.add(fed)
    # 50 values of 4 per group: 12 full entries (4 full requests, 48 items), 2 left.
    assert len(sent) == 48
    assert sorted(driver.state.buffered_ids()) == ["g12#0", "g12#1"]
    driver.fire("_on_window_end")
    _assert_ledger(driver.sent, fed)


def test_the_window_end_timer_is_set_to_the_windows_last_moment():
    window = IntervalWindow(0, 60)
    driver = _Driver(max_buffered=10, window=window)
    driver.add([_item("a", 0)])
    assert driver.state.window_end.fires_at == [window.max_timestamp()]


def test_streaming_sets_the_buffering_bound_once_per_fill_from_the_clock():
    clock = FakeClock(1000.0)
    driver = _Driver(max_buffered=100, bounded=False, clock=clock, max_buffering_seconds=5.0)
    fed = [_item("a", 0)]
    driver.add(fed)
    clock.now = 1003.0
    fed.append(_item("a", 1))
    driver.add(fed[-1:])
    # One timer, set at the first item's arrival: the bound runs from the oldest.
    assert driver.state.buffering.fires_at == [Timestamp.of(1000.0) + Duration.of(5.0)]
    assert driver.fire("_on_buffering") == ["a#0", "a#1"]
    assert driver.state.timer_set.read() is None
    # After the flush the next item sets a new bound from the clock's time then.
    clock.now = 1010.0
    fed.append(_item("a", 2))
    driver.add(fed[-1:])
    assert driver.state.buffering.fires_at[-1] == Timestamp.of(1010.0) + Duration.of(5.0)
    assert driver.state.buffering.cleared == 0
    driver.fire("_on_window_end")
    assert driver.state.timer_set.read() is None
    # The window's end clears the pending buffering timer and its watermark hold.
    assert driver.state.buffering.cleared == 1
    _assert_ledger(driver.sent, fed)


@pytest.mark.parametrize("timer", ["_on_buffering", "_on_window_end"])
def test_a_streaming_flush_sends_partial_entries_and_resets_the_thresholds(timer):
    driver = _Driver(max_buffered=8, bounded=False)
    fed = [_item("a", n) for n in range(4)] + [_item("b", n) for n in range(4)]
    fed += [_item("c", 0)]
    assert driver.add(fed) == []                 # 2 full entries: not a full request
    assert driver.state.next_check.read() == 9 + 8
    assert sorted(driver.fire(timer)) == sorted(i.item_id for i in fed)
    assert (driver.state.count.read(), driver.state.next_check.read()) == (None, None)
    # The threshold is max_buffered again after a flush, not the old next look
    # (17): 12 items, three full entries, go at once.
    more = [_item(g, n) for g in "def" for n in range(4)]
    fed += more
    assert sorted(driver.add(more)) == sorted(i.item_id for i in more)
    _assert_ledger(driver.sent, fed)


def test_a_timer_on_an_empty_buffer_sends_nothing():
    driver = _Driver(max_buffered=8, bounded=False)
    assert driver.fire("_on_buffering") == []
    assert driver.fire("_on_window_end") == []
