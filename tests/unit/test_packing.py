"""Packing items into requests: limits, fill, determinism."""

import dataclasses
import pickle
import random

import pytest

from beam_batchput.core.packing import lower_bound_requests, pack, split_full
from beam_batchput.core.service import Item, Limits, content_id

SITEWISE_LIKE = Limits(max_entries=10, max_values_per_entry=10)
BYTES_LIKE = Limits(max_entries=10, max_values_per_entry=1, max_request_bytes=1024)


def entry_id(group, items):
    return content_id(group, [it.sort_key for it in items])


def item(group, n, size=10, scope=()):
    return Item(scope=scope, group=group, payload={"n": n}, size=size,
                sort_key="%s|%06d" % (group, n), item_id="%s@%d" % (group, n), resource=str(group))


def dense(properties, points):
    return [item("p%04d" % p, n) for p in range(properties) for n in range(points)]


@pytest.mark.parametrize("properties,points", [(1, 1), (1, 10), (1, 11), (3, 7), (100, 50), (37, 23)])
def test_grouped_items_pack_to_the_lower_bound(properties, points):
    requests = pack(dense(properties, points), SITEWISE_LIKE, entry_id)
    assert len(requests) == lower_bound_requests([points] * properties, SITEWISE_LIKE)
    for request in requests:
        assert len(request.entries) <= 10
        assert all(len(e.items) <= 10 for e in request.entries)
        assert all(len({it.group for it in e.items}) == 1 for e in request.entries)
        ids = [e.entry_id for e in request.entries]
        assert len(ids) == len(set(ids))


def test_every_item_is_packed_exactly_once():
    items = dense(13, 17)
    packed = [it for r in pack(items, SITEWISE_LIKE, entry_id) for it in r.items]
    assert sorted(it.item_id for it in packed) == sorted(it.item_id for it in items)


def test_packing_is_independent_of_arrival_order():
    items = dense(20, 13)
    shuffled = list(items)
    random.Random(7).shuffle(shuffled)
    first = pack(items, SITEWISE_LIKE, entry_id)
    second = pack(shuffled, SITEWISE_LIKE, entry_id)
    as_ids = lambda reqs: [[(e.entry_id, [it.item_id for it in e.items]) for e in r.entries]
                           for r in reqs]
    assert as_ids(first) == as_ids(second)


def test_requests_never_mix_scopes():
    items = [item(None, n, scope=("ws%d" % (n % 3),)) for n in range(40)]
    for request in pack(items, Limits(max_entries=10), entry_id):
        assert {it.scope for it in request.items} == {request.scope}


def test_identical_entries_get_distinct_ids_in_one_request():
    twin = [item("p", 1), item("p", 1)]
    requests = pack(twin, Limits(max_entries=10, max_values_per_entry=1), entry_id)
    ids = [e.entry_id for e in requests[0].entries]
    assert len(ids) == 2 and len(set(ids)) == 2


def test_byte_limit_is_respected_with_mixed_sizes():
    rng = random.Random(3)
    items = [item(None, n, size=rng.choice([30, 60, 200, 500, 1000])) for n in range(200)]
    requests = pack(items, BYTES_LIKE, entry_id)
    for request in requests:
        assert sum(it.size for it in request.items) <= 1024
        assert len(request.entries) <= 10
    assert sum(len(r.items) for r in requests) == 200


def test_small_payloads_fill_requests_by_count():
    items = [item(None, n, size=60) for n in range(100)]
    requests = pack(items, BYTES_LIKE, entry_id)
    assert [len(r.entries) for r in requests] == [10] * 10


def test_split_full_keeps_partial_entries_back():
    items = dense(10, 10) + [item("tail", n) for n in range(3)]
    full, leftover = split_full(items, SITEWISE_LIKE, entry_id)
    assert len(full) == 1 and len(full[0].entries) == 10
    assert sorted(it.item_id for it in leftover) == sorted("tail@%d" % n for n in range(3))


def test_split_full_keeps_a_partial_request_back():
    items = dense(15, 10)
    full, leftover = split_full(items, SITEWISE_LIKE, entry_id)
    assert len(full) == 1
    assert len(leftover) == 50


def test_split_full_counts_a_byte_full_request_as_full():
    items = [item(None, n, size=500) for n in range(5)]
    full, leftover = split_full(items, BYTES_LIKE, entry_id)
    assert len(full) == 2 and len(leftover) == 1


def test_lower_bound():
    assert lower_bound_requests([50] * 1000, SITEWISE_LIKE) == 500
    assert lower_bound_requests([1] * 11, SITEWISE_LIKE) == 2


def test_an_item_pickles_with_every_field():
    item = Item(scope=("ws",), group="g", payload={"value": {"doubleValue": 1.5}}, size=7,
                sort_key="k", item_id="id", resource="r", record='{"a": 1}', event_time=42)
    assert pickle.loads(pickle.dumps([item, item], pickle.HIGHEST_PROTOCOL)) == [item, item]
    # Its own reduction names every field: a field added later must be added there.
    assert len(item.__reduce__()[1]) == len(dataclasses.fields(Item))
