"""Step 2 of the record's path: the stateful step that buffers items and packs requests."""

from __future__ import annotations

import contextlib
import functools
import gc
import pickle  # nosec B403 # only this transform's own items: see unpickle_all
from typing import Any, Iterator, List, Tuple

import apache_beam as beam
from apache_beam.coders import BooleanCoder, BytesCoder, VarIntCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    BagStateSpec,
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)

from beam_batchput.core import _runner_support
from beam_batchput.core.clock import Clock
from beam_batchput.core.packing import pack, split_full
from beam_batchput.core.service import Item, Request, Service

__all__ = ["batch_fn_class"]

# Partial entries may wait up to this many times max_buffered_records.
_HARD_CAP_FACTOR = 4


def unpickle_all(buffer: Any) -> List[Item]:
    """The items of a state bag of pickled chunks."""
    # The bytes are items this transform pickled into its own Beam state: the
    # runner's, never outside input.
    return [item for stored in buffer.read()
            for item in pickle.loads(stored)]  # nosec B301 # our own state, see above


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Holds the cyclic garbage collector off for one bounded piece of work.

    Implementation note: loading and packing a buffer allocates a few objects
    per item, and every 700 allocations the collector would walk the young
    ones, promoting items that die a moment later into the older generations;
    enough of them start a full collection over the whole process's heap.
    Items hold no cycles and the work is bounded (by the hard cap), so the
    collector waits until it is done; nothing is freed later than that.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _BatchFnBase(beam.DoFn):
    """Buffers items per key and window; emits packed requests.

    Sends the full requests among the buffered items once ``max_buffered``
    items wait, and everything when the window closes (and, in streaming,
    when the processing-time bound passes). On runners that hold the
    watermark for timers (Dataflow, Flink) window-end output is on time.
    The concrete classes come from :func:`batch_fn_class`.
    """

    def __init__(self, service: Service, max_buffered: int, max_buffering_seconds: float,
                 clock: Clock) -> None:
        self._service = service
        self._max_buffered = max_buffered
        self._max_buffering_seconds = max_buffering_seconds
        self._clock = clock

    def _add(self, chunk: Tuple[int, bytes], window: Any, buffer: Any, count: Any,
             next_check: Any, window_end: Any) -> Iterator[Request]:
        window_end.set(window.max_timestamp())
        size, pickled = chunk
        buffer.add(pickled)
        buffered = (count.read() or 0) + size
        count.write(buffered)
        if buffered < (next_check.read() or self._max_buffered):
            return
        # Implementation note: send the full requests and keep partial entries
        # back for more of their kind; the next look comes max_buffered records
        # later, and past the hard cap everything goes, so memory stays bounded
        # by (_HARD_CAP_FACTOR + 1) * max_buffered records per key and window.
        limits, entry_id = self._service.limits, self._service.entry_id
        with _collector_paused():
            items = unpickle_all(buffer)
            full, leftover = split_full(items, limits, entry_id)
            if len(leftover) >= _HARD_CAP_FACTOR * self._max_buffered:
                full, leftover = pack(items, limits, entry_id), []
            kept = pickle.dumps(leftover, pickle.HIGHEST_PROTOCOL) if leftover else None
            waiting = len(leftover)
            del items, leftover  # not kept alive while the requests go downstream
        buffer.clear()
        if kept is not None:
            buffer.add(kept)
        count.write(waiting)
        next_check.write(waiting + self._max_buffered)
        yield from full

    def _flush(self, buffer: Any, count: Any, next_check: Any,
               timer_set: Any = None) -> Iterator[Request]:
        """Every buffered item, packed; the body of every timer."""
        if timer_set is not None:
            timer_set.clear()
        with _collector_paused():
            requests = pack(unpickle_all(buffer), self._service.limits, self._service.entry_id)
        buffer.clear()
        count.clear()
        next_check.clear()
        yield from requests


@functools.lru_cache(maxsize=None)
def batch_fn_class(bounded: bool, tag: str,
                   buffering_domain: str = TimeDomain.REAL_TIME) -> type:
    """The batching DoFn class, with state and timer names unique to ``tag``.

    Implementation note: Beam's portable runner mixes up the timers of two
    stateful steps of one stage that share timer names (records were silently
    left unsent), so every writer's batching step gets names of its own.
    Bounded input gets no processing-time timer: it does not need one, and one
    would keep the DirectRunner off its portable batch runner. Streaming input
    gets it in ``buffering_domain`` (see :mod:`._runner_support`).
    """
    buffer_spec = BagStateSpec("buffer_" + tag, BytesCoder())
    count_spec = ReadModifyWriteStateSpec("count_" + tag, VarIntCoder())
    next_spec = ReadModifyWriteStateSpec("next_check_" + tag, VarIntCoder())
    window_spec = TimerSpec("window_end_" + tag, TimeDomain.WATERMARK)
    buffer = beam.DoFn.StateParam(buffer_spec)
    count = beam.DoFn.StateParam(count_spec)
    next_check = beam.DoFn.StateParam(next_spec)

    if bounded:
        class _BoundedBatchFn(_BatchFnBase):
            def process(self, element: Tuple[Any, Tuple[int, bytes]], window=beam.DoFn.WindowParam,
                        buffer=buffer, count=count, next_check=next_check,
                        window_end=beam.DoFn.TimerParam(window_spec)) -> Iterator[Request]:
                yield from self._add(element[1], window, buffer, count, next_check, window_end)

            @on_timer(window_spec)
            def _on_window_end(self, buffer=buffer, count=count,
                               next_check=next_check) -> Iterator[Request]:
                yield from self._flush(buffer, count, next_check)

        return _BoundedBatchFn

    timer_set_spec = ReadModifyWriteStateSpec("buffering_timer_set_" + tag, BooleanCoder())
    buffering_spec = TimerSpec("buffering_" + tag, buffering_domain)
    timer_set = beam.DoFn.StateParam(timer_set_spec)

    class _StreamingBatchFn(_BatchFnBase):
        def process(self, element: Tuple[Any, Tuple[int, bytes]], window=beam.DoFn.WindowParam,
                    timestamp=beam.DoFn.TimestampParam,
                    buffer=buffer, count=count, next_check=next_check, timer_set=timer_set,
                    window_end=beam.DoFn.TimerParam(window_spec),
                    buffering=beam.DoFn.TimerParam(buffering_spec)) -> Iterator[Request]:
            if not timer_set.read():
                buffering.set(_runner_support.buffering_deadline(
                    buffering_domain, self._clock.time, self._max_buffering_seconds,
                    timestamp, window))
                timer_set.write(True)
            yield from self._add(element[1], window, buffer, count, next_check, window_end)

        # The window's end and the buffering bound flush alike. The window's end
        # also clears the buffering timer: a pending processing-time timer holds
        # the watermark at its record's timestamp, and a runner that stops its
        # processing-time service at the end of input (Flink) would otherwise
        # wait for that hold forever.
        @on_timer(window_spec)
        def _on_window_end(self, buffer=buffer, count=count, next_check=next_check,
                           timer_set=timer_set,
                           buffering=beam.DoFn.TimerParam(buffering_spec)) -> Iterator[Request]:
            buffering.clear()
            yield from self._flush(buffer, count, next_check, timer_set)

        @on_timer(buffering_spec)
        def _on_buffering(self, buffer=buffer, count=count, next_check=next_check,
                          timer_set=timer_set) -> Iterator[Request]:
            yield from self._flush(buffer, count, next_check, timer_set)

    return _StreamingBatchFn
