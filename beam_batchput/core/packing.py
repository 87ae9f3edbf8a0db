"""Packing items into requests under every limit of a service.

Items are sorted first, so the same items always pack into the same requests
with the same entry ids, whatever order they arrived in: a replayed bundle
sends identical requests.
"""

from __future__ import annotations

import itertools
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from beam_batchput.core.service import Entry, Item, Limits, Request

__all__ = ["pack", "split_full", "lower_bound_requests"]

EntryIdFn = Callable[[Optional[str], Sequence[Item]], str]


def _sort_key(item: Item) -> Tuple:
    return (item.scope, item.group is not None, item.group or "", item.sort_key)


def _entries(items: Sequence[Item], limits: Limits) -> List[Tuple[Optional[str], List[Item]]]:
    """Groups sorted items into entries of at most ``max_values_per_entry``."""
    entries: List[Tuple[Optional[str], List[Item]]] = []
    byte_limit = limits.max_request_bytes
    for group, members in itertools.groupby(items, key=lambda it: it.group):
        if group is None:
            entries.extend((None, [item]) for item in members)
            continue
        current: List[Item] = []
        current_bytes = 0
        for item in members:
            too_many = len(current) >= limits.max_values_per_entry
            too_big = byte_limit is not None and current and current_bytes + item.size > byte_limit
            if too_many or too_big:
                entries.append((group, current))
                current, current_bytes = [], 0
            current.append(item)
            current_bytes += item.size
        if current:
            entries.append((group, current))
    return entries


def _bins(entries: Sequence[Tuple[Optional[str], List[Item]]],
          limits: Limits) -> List[List[Tuple[Optional[str], List[Item]]]]:
    """Puts entries into requests: in order by count, first-fit decreasing by bytes."""
    if limits.max_request_bytes is None:
        step = limits.max_entries
        return [list(entries[i:i + step]) for i in range(0, len(entries), step)]
    byte_limit = limits.max_request_bytes
    sized = sorted(
        ((sum(it.size for it in items), index) for index, (_, items) in enumerate(entries)),
        key=lambda pair: (-pair[0], pair[1]),
    )
    bins: List[List[int]] = []
    loads: List[int] = []
    for size, index in sized:
        for b, load in enumerate(loads):
            if len(bins[b]) < limits.max_entries and load + size <= byte_limit:
                bins[b].append(index)
                loads[b] += size
                break
        else:
            bins.append([index])
            loads.append(size)
    return [[entries[i] for i in sorted(indexes)] for indexes in bins]


def _request(scope: Tuple[str, ...], entries: Sequence[Tuple[Optional[str], List[Item]]],
             entry_id: EntryIdFn) -> Request:
    packed: List[Entry] = []
    seen: Dict[str, int] = {}
    for group, items in entries:
        base = entry_id(group, items)
        count = seen.get(base, 0)
        seen[base] = count + 1
        packed.append(Entry(base if count == 0 else "%s-%d" % (base, count), group, items))
    return Request(scope, packed)


def pack(items: Sequence[Item], limits: Limits, entry_id: EntryIdFn) -> List[Request]:
    """Packs items into as few requests as the limits allow.

    Args:
        items: Items of any scopes and groups.
        limits: The service's request limits.
        entry_id: Derives an entry's id from its group and items.

    Returns:
        Requests, each to a single scope, within every limit.
    """
    requests: List[Request] = []
    ordered = sorted(items, key=_sort_key)
    for scope, members in itertools.groupby(ordered, key=lambda it: it.scope):
        for entries in _bins(_entries(list(members), limits), limits):
            requests.append(_request(scope, entries, entry_id))
    return requests


def _is_full(entries: Sequence[Tuple[Optional[str], List[Item]]], limits: Limits,
             smallest: int) -> bool:
    if len(entries) >= limits.max_entries:
        return True
    if limits.max_request_bytes is None:
        return False
    load = sum(it.size for _, items in entries for it in items)
    return load + smallest > limits.max_request_bytes


def split_full(items: Sequence[Item], limits: Limits,
               entry_id: EntryIdFn) -> Tuple[List[Request], List[Item]]:
    """Packs the full requests out of ``items`` and returns the rest.

    An entry is full when it holds ``max_values_per_entry`` items; a request is
    full when it holds ``max_entries`` full entries or no room for the smallest
    item is left. Items of partial entries and of the last partial request are
    returned, to wait for more of their kind.

    Returns:
        ``(full_requests, leftover_items)``.
    """
    if not items:
        return [], []
    smallest = min(item.size for item in items)
    full: List[Request] = []
    leftover: List[Item] = []
    ordered = sorted(items, key=_sort_key)
    for scope, members in itertools.groupby(ordered, key=lambda it: it.scope):
        complete = []
        for group, entry_items in _entries(list(members), limits):
            if group is None or len(entry_items) >= limits.max_values_per_entry:
                complete.append((group, entry_items))
            else:
                leftover.extend(entry_items)
        for entries in _bins(complete, limits):
            if _is_full(entries, limits, smallest):
                full.append(_request(scope, entries, entry_id))
            else:
                leftover.extend(it for _, entry_items in entries for it in entry_items)
    return full, leftover


def lower_bound_requests(points_per_group: Sequence[int], limits: Limits) -> int:
    """Fewest requests that can carry groups of these sizes (count limits only)."""
    entries = sum(-(-n // limits.max_values_per_entry) for n in points_per_group)
    return -(-entries // limits.max_entries)
