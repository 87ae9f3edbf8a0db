"""Step 2 of the record's path for bounded input: group per key and window, then pack.

A bounded writer needs no state and no timers: a ``GroupByKey`` hands each
(key, window) its chunks once all input is in, and :class:`PackGroupedFn`
packs them while iterating, under the same rules as the streaming step
(:mod:`beam_batchput.core.batching`): full requests go out as soon as
``max_buffered`` items wait, partial entries wait for more of their kind, and
past the hard cap everything goes, so at most ``(_HARD_CAP_FACTOR + 1) *
max_buffered`` items are held at once.

Implementation note: the stateful step relies on a runner running one key
in one bundle at a time. Prism (Beam 2.77) does not always: when it splits a
bundle of a stateful stage, it frees the keys of the split-off elements while
the rest of the bundle, which may hold the same keys, still runs, and a new
bundle for those keys starts from the state as it was before. Both bundles'
state writes commit, the later one wins, and the other's items are gone.
Grouping runs in the runner itself, and a split of the packing step just
hands its unprocessed groups to another bundle.
"""

from __future__ import annotations

import pickle  # nosec B403 # only this transform's own items: see batching.unpickle_all
from typing import Any, Iterable, Iterator, List, Tuple

import apache_beam as beam
from apache_beam.transforms.trigger import AccumulationMode, DefaultTrigger

from beam_batchput.core.batching import _HARD_CAP_FACTOR
from beam_batchput.core.packing import pack, split_full
from beam_batchput.core.service import Item, Request, Service

__all__ = ["PackGroupedFn", "can_group"]


def can_group(records: beam.PCollection) -> bool:
    """Whether ``records``' windowing lets a ``GroupByKey`` stand in for the stateful step.

    The default trigger fires each window once; a merging window function
    would merge the windows chunks were made in, and another trigger could
    fire a window's items more than once.
    """
    windowing = records.windowing
    return (not windowing.windowfn.is_merging()
            and windowing.triggerfn == DefaultTrigger()
            and windowing.accumulation_mode != AccumulationMode.ACCUMULATING)


class PackGroupedFn(beam.DoFn):
    """``(key, chunks)`` of one window → packed requests, full ones while iterating.

    Args:
        service: The service description.
        max_buffered: Items that may wait before the full requests among them go.
    """

    def __init__(self, service: Service, max_buffered: int) -> None:
        self._service = service
        self._max_buffered = max_buffered

    def process(self, element: Tuple[Any, Iterable[Tuple[int, bytes]]]) -> Iterator[Request]:
        limits, entry_id = self._service.limits, self._service.entry_id
        items: List[Item] = []
        next_check = self._max_buffered
        for _, pickled in element[1]:
            # Chunks this transform's prepare step pickled: never outside input.
            items.extend(pickle.loads(pickled))  # nosec B301 # our own chunks, see above
            if len(items) < next_check:
                continue
            full, leftover = split_full(items, limits, entry_id)
            if len(leftover) >= _HARD_CAP_FACTOR * self._max_buffered:
                full, leftover = pack(items, limits, entry_id), []
            items = leftover
            next_check = len(items) + self._max_buffered
            yield from full
        if items:
            yield from pack(items, limits, entry_id)
