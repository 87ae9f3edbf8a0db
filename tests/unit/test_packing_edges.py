"""Packing and `split_full`: mixed and byte-bound entries, fullness by bytes, scopes kept apart."""

from beam_batchput.core.packing import pack, split_full
from beam_batchput.core.service import Item, Limits


def _item(scope, group, n, size=1):
    return Item(scope=(scope,), group=group, payload=n, size=size,
                sort_key="%s/%s/%04d" % (scope, group, n), item_id="%s/%s#%d" % (scope, group, n),
                resource=scope)


def _entry_id(group, items):
    return "%s-%d" % (group, len(items))


def test_full_requests_go_to_their_own_scope_and_never_mix_scopes():
    limits = Limits(max_entries=2, max_values_per_entry=2)
    items = [_item(scope, g, n) for scope in ("a", "b") for g in ("x", "y") for n in range(2)]
    full, leftover = split_full(items, limits, _entry_id)
    assert leftover == []
    assert sorted((r.scope, sorted(i.item_id for i in r.items)) for r in full) == [
        (("a",), ["a/x#0", "a/x#1", "a/y#0", "a/y#1"]),
        (("b",), ["b/x#0", "b/x#1", "b/y#0", "b/y#1"])]


def test_a_request_with_room_for_the_smallest_item_is_not_full():
    # 10 bytes a request; 3 + 3 + 2 = 8 leaves room for one more 2-byte item.
    limits = Limits(max_entries=10, max_request_bytes=10)
    items = [_item("a", None, 0, 3), _item("a", None, 1, 3), _item("a", None, 2, 2)]
    full, leftover = split_full(items, limits, _entry_id)
    assert full == [] and sorted(i.item_id for i in leftover) == [
        "a/None#0", "a/None#1", "a/None#2"]


def test_a_request_without_room_for_the_smallest_item_is_full():
    # 3 + 3 + 3 = 9 of 10 bytes and the smallest item is 2: no room, full.
    limits = Limits(max_entries=10, max_request_bytes=10)
    items = [_item("a", None, n, 3) for n in range(3)] + [_item("a", None, 3, 2)]
    full, leftover = split_full(items, limits, _entry_id)
    assert [sorted(i.item_id for i in r.items) for r in full] == [
        ["a/None#0", "a/None#1", "a/None#2"]]
    assert [i.item_id for i in leftover] == ["a/None#3"]


def test_nothing_in_nothing_out():
    assert split_full([], Limits(max_entries=1), _entry_id) == ([], [])


def test_items_with_and_without_a_group_in_one_scope_are_all_packed():
    limits = Limits(max_entries=3, max_values_per_entry=2)
    items = ([_item("a", None, n) for n in range(3)]
             + [_item("a", g, n) for g in ("x", "y") for n in range(3)])
    requests = pack(items, limits, _entry_id)
    sent = sorted(i.item_id for r in requests for i in r.items)
    assert sent == sorted(i.item_id for i in items)


def test_a_grouped_entry_is_split_by_the_byte_limit_too():
    # 10 bytes a request, entries of up to 10 values: 4-byte values, two an entry.
    limits = Limits(max_entries=10, max_values_per_entry=10, max_request_bytes=10)
    items = [_item("a", "x", n, size=4) for n in range(5)]
    requests = pack(items, limits, _entry_id)
    assert sorted(i.item_id for r in requests for i in r.items) == sorted(
        i.item_id for i in items)
    assert all(sum(i.size for i in r.items) <= 10 for r in requests)
    assert [len(e.items) for r in requests for e in r.entries] == [2, 2, 1]
