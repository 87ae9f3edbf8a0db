"""A request or an entry of exactly the byte limit is one request, not two."""

from beam_batchput.core.packing import pack
from beam_batchput.core.service import Limits
from tests.unit.test_packing_edges import _entry_id, _item


def test_ungrouped_items_filling_the_byte_limit_exactly_go_in_one_request():
    limits = Limits(max_entries=10, max_request_bytes=10)
    requests = pack([_item("a", None, n, size) for n, size in enumerate((4, 3, 3))], limits,
                    _entry_id)
    assert [len(r.items) for r in requests] == [3]


def test_a_grouped_entry_filling_the_byte_limit_exactly_stays_one_entry():
    limits = Limits(max_entries=10, max_values_per_entry=10, max_request_bytes=10)
    requests = pack([_item("a", "g", n, 5) for n in range(2)], limits, _entry_id)
    assert [[len(e.items) for e in r.entries] for r in requests] == [[2]]


def test_the_entry_after_a_split_fills_the_byte_limit_exactly_too():
    limits = Limits(max_entries=10, max_values_per_entry=10, max_request_bytes=10)
    requests = pack([_item("a", "g", n, 5) for n in range(4)], limits, _entry_id)
    assert sorted(len(e.items) for r in requests for e in r.entries) == [2, 2]
