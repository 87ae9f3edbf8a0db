"""Refused records and failed entries carry the specific code and a message naming the problem.

A dead letter's code is what users route on: each case here says the code,
written in the test, and a word the message must contain.
"""

import pytest

from beam_batchput.core.service import Entry, InvalidRecord, Request
from beam_batchput.services.iotevents import IoTEventsService
from beam_batchput.services.sitewise import SiteWiseService
from tests.clocks import FakeClock

NOW = 1_700_000_000


def _sitewise(**fields):
    record = {"property_alias": "/p/1", "value": 1.0, "timestamp": NOW - 60}
    record.update(fields)
    return {k: v for k, v in record.items() if v is not ...}


_SITEWISE_REFUSED = [
    (dict(value="yes", value_type="BOOLEAN"), "InvalidType", "BOOLEAN"),
    (dict(value=1.5, value_type="INTEGER"), "InvalidType", "INTEGER"),
    (dict(value=True, value_type="INTEGER"), "InvalidType", "INTEGER"),
    (dict(value="1", value_type="DOUBLE"), "InvalidType", "DOUBLE"),
    (dict(value=[1]), "InvalidType", "list"),
    (dict(value=2 ** 31), "ValueOutOfRange", "32-bit"),
    (dict(value=1e11), "ValueOutOfRange", "1e10"),
    (dict(value=None, quality="BAD"), "MissingField", "value_type"),
    (dict(value=None, value_type="DOUBLE"), "InvalidValue", "quality"),
    (dict(value=...), "MissingField", "value"),
    # An alias and either half of an id: which property is meant is unclear.
    (dict(asset_id="a1"), "InvalidRecord", "not both"),
    (dict(property_id="p1"), "InvalidRecord", "not both"),
    (dict(property_alias=..., asset_id=None, property_id=None), "MissingField", "required"),
    (dict(timestamp=NOW - 8 * 86400), "TimestampOutOfRange", "7 days"),
    (dict(timestamp=NOW + 11 * 60), "TimestampOutOfRange", "10 minutes"),
]


@pytest.mark.parametrize("fields, code, word", _SITEWISE_REFUSED,
                         ids=["%s-%s" % (c, w) for _, c, w in _SITEWISE_REFUSED])
def test_sitewise_refuses_with_the_specific_code(fields, code, word):
    service = SiteWiseService()
    service.clock = FakeClock(NOW)
    with pytest.raises(InvalidRecord) as refused:
        service.item(_sitewise(**fields))
    assert refused.value.code == code
    assert word in refused.value.message


def test_an_iotevents_error_without_a_code_fails_as_unknown():
    service = IoTEventsService()
    item = service.item({"input_name": "in", "payload": {"a": 1}, "message_id": "m1"})
    request = Request(item.scope, [Entry("m1", item.group, [item])])
    (failure,) = service.failures(request, {"BatchPutMessageErrorEntries": [
        {"messageId": "m1"}]})
    assert (failure.item, failure.code, failure.message) == (item, "Unknown", "")
