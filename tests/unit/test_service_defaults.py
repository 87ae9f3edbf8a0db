"""What the service description does unless a service module says otherwise: content-derived
entry ids, shard keys, and a success list or read-back declared but not implemented failing
loudly, naming the service class."""

import pytest

from beam_batchput.core.service import Item, Limits, Request, Service, content_id


class _Bare(Service):
    """Implements only what every service must."""

    name = "bare"

    def item(self, record):
        raise AssertionError("not called")

    def build_request(self, scope, entries):
        return {}

    def failures(self, request, response):
        return []


def _item(sort_key: str, group=None) -> Item:
    return Item(scope=("s",), group=group, payload=sort_key, size=1, sort_key=sort_key,
                item_id=sort_key, resource="/r")


def test_an_entry_id_follows_the_entrys_group_and_items():
    service = _Bare()
    one, two = [_item("a"), _item("b")], [_item("a"), _item("c")]
    assert service.entry_id("g", one) == service.entry_id("g", [_item("a"), _item("b")])
    ids = {service.entry_id("g", one), service.entry_id("h", one), service.entry_id("g", two),
           service.entry_id(None, one), service.entry_id("g", one[:1])}
    assert len(ids) == 5


def test_items_of_one_group_share_a_shard_key_and_ungrouped_items_have_their_own():
    service = _Bare()
    assert service.shard_key(_item("a", group="g")) == service.shard_key(_item("b", group="g"))
    assert service.shard_key(_item("a")) == "a"
    assert service.shard_key(_item("b")) == "b"


def test_a_success_list_declared_but_not_read_fails_loudly():
    with pytest.raises(NotImplementedError,
                       match="^_Bare declares a success list but does not read it$"):
        list(_Bare().confirmed(Request(scope=("s",), entries=[]), {}))


def test_a_read_back_declared_but_not_implemented_fails_loudly():
    with pytest.raises(NotImplementedError,
                       match="^_Bare declares verify_codes but cannot read values back$"):
        list(_Bare().held(object(), [_item("a")]))


def test_a_byte_bound_that_is_not_positive_is_refused_by_its_name():
    with pytest.raises(ValueError, match="^max_request_bytes must be a positive integer"):
        Limits(max_entries=10, max_request_bytes=0)


def test_a_content_id_is_the_same_for_the_same_content_in_any_key_order():
    assert content_id({"b": 1, "a": [1.5, None]}) == content_id({"a": [1.5, None], "b": 1})
    assert content_id({"a": 1}) != content_id({"a": 2})


def test_a_content_id_stays_the_same_across_releases():
    # The first 32 hex digits of the SHA-256 of the compact JSON text '["g",["a","b"]]':
    # replays written by another release derive the same client tokens and message ids.
    assert content_id("g", ["a", "b"]) == "22702371edd5714ba039a5683cc83644"
    assert content_id("g", ["a", "b"], length=8) == "22702371"
    # Of '[{"a":[1.5,null],"b":1}]': keys sorted, no spaces.
    assert content_id({"b": 1, "a": [1.5, None]}, length=12) == "78b813b45caf"


def test_a_content_id_of_a_part_json_cannot_carry_uses_its_text():
    import decimal

    assert content_id(decimal.Decimal("1.10")) == content_id("1.10")
