"""The messages a dead letter carries when the response cannot prove a record written: an
error no record can be told from, and a record its success list leaves out."""

import pytest

from beam_batchput.core.sender import settle_response
from tests.unit.test_verdict import _Names, _request


class _Listed(_Names):
    """A success list: ``stored`` names the items written."""

    has_success_list = True

    def confirmed(self, request, response):
        stored = set(response.get("stored", ()))
        return [item for item in request.items if item.payload in stored]


def test_an_error_no_record_can_be_told_from_says_so_with_its_code_and_message():
    service, request = _request("a")
    verdict = settle_response(service, request, {"unplaced": ["Oops"]})
    assert [message for _, _, message in verdict.failed] == [
        "the response holds an error the writer could not place on one record "
        "(Oops: no name given); it could refer to this one"]


def test_a_record_the_success_list_leaves_out_says_so():
    _, request = _request("a", "b")
    verdict = settle_response(_Listed(), request, {"stored": ["a"]})
    assert [(item.payload, code, message) for item, code, message in verdict.failed] == [
        ("b", "NotConfirmed",
         "the response's success list does not confirm this record, and no error names it")]


def test_a_service_yielding_anything_else_is_named_in_full():
    service, request = _request("a")
    with pytest.raises(TypeError) as raised:
        settle_response(service, request, {"odd": ["odd"]})
    assert str(raised.value) == "_Names.failures yielded 'odd', not a Failure or Unmatched"
