"""Each service's request shape against the numbers AWS documents, written here.

The packer reads ``service.limits``; a test comparing requests against the
same constants cannot see a wrong constant. These numbers come from the API
references (and, where AWS documents none, the project's stated default), and
the requests are counted in the client call's own keyword arguments.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List

import pytest

from beam_batchput.core.packing import pack
from beam_batchput.core.prepare import PrepareFn
from beam_batchput.core.service import InvalidRecord
from tests.contract import cases

# service: (entries per request, values per entry, payload bytes per request where checked)
DOCUMENTED = {
    # BatchPutAssetPropertyValue: 10 entries, 10 property values each.
    "sitewise": (10, 10, None),
    # BatchPutPropertyValues: 10 entries, 10 property values each.
    "twinmaker": (10, 10, None),
    # PostTimeSeriesDataPoints: no documented maximum; the default is 1 form (each
    # form's clientToken its own), 1 MiB.
    "datazone": (1, 1, 1024 * 1024),
    # BatchCreateDataTableValue: no documented maximum; the default is 25 values.
    "connect": (25, 1, None),
    # BatchPutMessage: 10 messages and 1,024 bytes of payload in total.
    "iotevents": (10, 1, 1024),
    # PutRecords: 500 records a request.
    "kinesis": (500, 1, None),
}


def _payload_bytes(payload: Any) -> int:
    return len(payload if isinstance(payload, bytes) else payload.encode("utf-8"))


# How to count one call's entries and values per entry, from its keyword arguments.
_SHAPE: Dict[str, Callable[[Dict[str, Any]], List[int]]] = {
    "sitewise": lambda kw: [len(e["propertyValues"]) for e in kw["entries"]],
    "twinmaker": lambda kw: [len(e["propertyValues"]) for e in kw["entries"]],
    "datazone": lambda kw: [1 for _ in kw["forms"]],
    "connect": lambda kw: [1 for _ in kw["Values"]],
    "iotevents": lambda kw: [1 for _ in kw["messages"]],
    "kinesis": lambda kw: [1 for _ in kw["Records"]],
}


def _calls(case: cases.Case, records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    service = case.writer()._service
    requests = pack([service.item(r) for r in records], service.limits, service.entry_id)
    return [service.build_request(r.scope, r.entries) for r in requests]


def test_every_writer_has_a_documented_row():
    assert sorted(DOCUMENTED) == sorted(c.name for c in cases.CASES)


@pytest.mark.parametrize("case", cases.CASES, ids=lambda c: c.name)
def test_requests_fill_up_to_the_documented_counts_and_never_past_them(case):
    entries, values, _ = DOCUMENTED[case.name]
    calls = _calls(case, [case.valid(i, cases.NOW) for i in range(1300)])
    shapes = [_SHAPE[case.name](kw) for kw in calls]
    assert sum(sum(s) for s in shapes) == 1300
    assert max(len(s) for s in shapes) == entries
    assert max(max(s) for s in shapes) == values


def test_iotevents_requests_stay_within_1024_payload_bytes():
    records = [{"input_name": "contract_input", "payload": {"i": i, "pad": "x" * (150 + i % 90)}}
               for i in range(200)]
    calls = _calls(cases.IOTEVENTS, records)
    loads = [sum(_payload_bytes(m["payload"]) for m in kw["messages"]) for kw in calls]
    assert sorted(json.loads(m["payload"])["i"] for kw in calls for m in kw["messages"]) == list(
        range(200))
    assert max(loads) <= 1024
    # The byte bound, not the count, decides here: requests come close to it.
    assert max(len(kw["messages"]) for kw in calls) < 10 and max(loads) > 1024 - 250


def test_a_1024_byte_iotevents_payload_is_accepted_and_1025_refused():
    service = cases.IOTEVENTS.writer()._service
    prepare = PrepareFn(service, 1, 10, None)
    assert prepare._item({"input_name": "contract_input", "payload": "x" * 1024}).size == 1024
    with pytest.raises(InvalidRecord):
        prepare._item({"input_name": "contract_input", "payload": "x" * 1025})
