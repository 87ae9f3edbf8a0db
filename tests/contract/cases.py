"""One case per writer for the shared contract suite.

A case says how to make valid and invalid records of the service, and how a
fake service answers: accepting everything, or failing every entry of a
request with a given code.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, Callable, Dict, List

from beam_batchput import writers
from tests import fakes

NOW = int(time.time())


@dataclasses.dataclass(frozen=True)
class Case:
    """How the contract suite drives one writer.

    ``valid(i, ts)`` makes record number ``i`` at ``ts``; ``indices(kwargs)``
    reads the record numbers back out of a request the writer sent.
    """

    name: str
    writer: Callable[..., Any]
    valid: Callable[[int, float], Dict[str, Any]]
    invalid: List[Dict[str, Any]]
    accept: Callable[[str, Dict[str, Any], int], Any]
    fail_all: Callable[[Dict[str, Any], str], Any]
    indices: Callable[[Dict[str, Any]], List[int]]
    retryable_code: str
    fatal_code: str
    fatal_stage: str = "entry"
    service_name: str = ""


def _sitewise_valid(i: int, ts: float) -> Dict[str, Any]:
    return {"property_alias": "/contract/p%d" % (i % 13), "value": float(i),
            "timestamp": ts + i / 1000.0}


def _sitewise_fail_all(kwargs: Dict[str, Any], code: str) -> Dict[str, Any]:
    return {"errorEntries": [
        {"entryId": e["entryId"], "errors": [{"errorCode": code, "errorMessage": "injected",
                                              "timestamps": [v["timestamp"]
                                                             for v in e["propertyValues"]]}]}
        for e in kwargs["entries"]]}


SITEWISE = Case(
    name="sitewise",
    writer=writers.WriteToSiteWise,
    valid=_sitewise_valid,
    invalid=[{"property_alias": "/contract/x", "value": 1e11, "timestamp": NOW},
             {"value": 1.0, "timestamp": NOW},
             {"property_alias": "/contract/x", "value": 1.0, "timestamp": NOW - 30 * 86400}],
    accept=fakes.accept_all,
    fail_all=_sitewise_fail_all,
    indices=lambda kwargs: [int(v["value"]["doubleValue"]) for e in kwargs["entries"]
                            for v in e["propertyValues"]],
    retryable_code="ThrottlingException",
    fatal_code="ResourceNotFoundException",
    service_name="iotsitewise",
)

def _twinmaker_valid(i: int, ts: float) -> Dict[str, Any]:
    return {"workspace_id": "ws-%d" % (i % 2), "entity_id": "pump-%d" % (i % 5),
            "component_name": "telemetry", "property_name": "flow", "value": float(i),
            "timestamp": ts + i / 1000.0}


def _twinmaker_fail_all(kwargs: Dict[str, Any], code: str) -> Dict[str, Any]:
    return {"errorEntries": [{"errors": [{"errorCode": code, "errorMessage": "injected",
                                          "entry": entry}]} for entry in kwargs["entries"]]}


TWINMAKER = Case(
    name="twinmaker",
    writer=writers.WriteToTwinMaker,
    valid=_twinmaker_valid,
    invalid=[{"workspace_id": "ws-0", "entity_id": "pump-0", "component_name": "telemetry",
              "property_name": "flow", "value": float("nan"), "timestamp": NOW},
             {"workspace_id": "ws 0", "entity_id": "pump-0", "component_name": "telemetry",
              "property_name": "flow", "value": 1.0, "timestamp": NOW},
             {"workspace_id": "ws-0", "entity_id": "pump-0", "property_name": "flow",
              "value": 1.0, "timestamp": NOW}],
    accept=lambda method, kwargs, number: {"errorEntries": []},
    fail_all=_twinmaker_fail_all,
    indices=lambda kwargs: [int(v["value"]["doubleValue"]) for e in kwargs["entries"]
                            for v in e["propertyValues"]],
    retryable_code="ThrottlingException",
    # Not "409": a conflict is read back first (a replay may be answered so),
    # and these fakes hold nothing; the ledger tests cover conflicts.
    fatal_code="ValidationException",
    service_name="iottwinmaker",
)


def _datazone_valid(i: int, ts: float) -> Dict[str, Any]:
    return {"domain_id": "dzd_contract", "entity_type": "ASSET", "entity_id": "asset%d" % (i % 3),
            "form_name": "quality", "type_identifier": "amazon.datazone.DataQualityResultFormType",
            "timestamp": ts + i / 1000.0, "content": {"i": i, "passed": i % 7 != 0}}


def _datazone_fail_all(kwargs: Dict[str, Any], code: str) -> Any:
    status = {"ThrottlingException": 429, "ResourceNotFoundException": 404}.get(code, 400)
    raise fakes.client_error(code, status)


DATAZONE = Case(
    name="datazone",
    writer=writers.WriteToDataZone,
    valid=_datazone_valid,
    invalid=[{"domain_id": "nope", "entity_type": "ASSET", "entity_id": "a", "form_name": "f",
              "type_identifier": "t", "timestamp": NOW, "content": "{}"},
             {"domain_id": "dzd_x", "entity_type": "TABLE", "entity_id": "a", "form_name": "f",
              "type_identifier": "t", "timestamp": NOW, "content": "{}"},
             {"domain_id": "dzd_x", "entity_type": "ASSET", "entity_id": "a", "form_name": "f",
              "type_identifier": "t", "timestamp": NOW, "content": "{not json"}],
    accept=lambda method, kwargs, number: {"forms": kwargs["forms"]},
    fail_all=_datazone_fail_all,
    indices=lambda kwargs: [json.loads(f["content"])["i"] for f in kwargs["forms"]],
    retryable_code="ThrottlingException",
    fatal_code="ResourceNotFoundException",
    fatal_stage="request",
    service_name="datazone",
)

CONNECT_INSTANCE = "11111111-2222-3333-4444-555555555555"


def _connect_valid(i: int, ts: float) -> Dict[str, Any]:
    return {"instance_id": CONNECT_INSTANCE, "data_table_id": "table-%d" % (i % 2),
            "attribute_name": "status", "value": "v%d" % i,
            "primary_values": {"customer": "c%05d" % i}}


def _connect_fail_all(kwargs: Dict[str, Any], code: str) -> Dict[str, Any]:
    return {"Successful": [], "Failed": [
        {"PrimaryValues": v["PrimaryValues"], "AttributeName": v["AttributeName"],
         "Message": "%s: injected" % code} for v in kwargs["Values"]]}


def _connect_accept(method: str, kwargs: Dict[str, Any], number: int) -> Dict[str, Any]:
    return {"Failed": [], "Successful": [
        {"PrimaryValues": v.get("PrimaryValues", []), "AttributeName": v["AttributeName"],
         "RecordId": "r%d" % index, "LockVersion": {"Value": "1"}}
        for index, v in enumerate(kwargs["Values"])]}


CONNECT = Case(
    name="connect",
    writer=writers.WriteToConnectDataTable,
    valid=_connect_valid,
    invalid=[{"instance_id": CONNECT_INSTANCE, "data_table_id": "t", "attribute_name": "a",
              "value": 5, "primary_values": {"k": "v"}},
             {"instance_id": CONNECT_INSTANCE, "data_table_id": "t", "attribute_name": "a\nb",
              "value": "x", "primary_values": {"k": "v"}},
             {"instance_id": CONNECT_INSTANCE, "data_table_id": "t", "attribute_name": "a",
              "value": "x", "primary_values": [["k"]]}],
    accept=_connect_accept,
    fail_all=_connect_fail_all,
    indices=lambda kwargs: [int(v["Value"][1:]) for v in kwargs["Values"]],
    retryable_code="ThrottlingException",
    fatal_code="ResourceNotFoundException",
    service_name="connect",
)


def _iotevents_valid(i: int, ts: float) -> Dict[str, Any]:
    return {"input_name": "contract_input", "payload": {"i": i, "pressure": 100 + i},
            "timestamp": ts + i / 1000.0}


def _iotevents_fail_all(kwargs: Dict[str, Any], code: str) -> Dict[str, Any]:
    return {"BatchPutMessageErrorEntries": [
        {"messageId": m["messageId"], "errorCode": code, "errorMessage": "injected"}
        for m in kwargs["messages"]]}


IOTEVENTS = Case(
    name="iotevents",
    writer=writers.WriteToIoTEvents,
    valid=_iotevents_valid,
    invalid=[{"input_name": "9 bad", "payload": "{}"},
             {"input_name": "contract_input", "payload": "x" * 1025},
             {"input_name": "contract_input", "payload": "{}", "message_id": "has space"}],
    accept=lambda method, kwargs, number: {"BatchPutMessageErrorEntries": []},
    fail_all=_iotevents_fail_all,
    indices=lambda kwargs: [json.loads(m["payload"])["i"] for m in kwargs["messages"]],
    retryable_code="ThrottlingException",
    fatal_code="ResourceNotFoundException",
    service_name="iotevents-data",
)

def _kinesis_valid(i: int, ts: float) -> Dict[str, Any]:
    return {"stream_name": "contract-%d" % (i % 2), "partition_key": "p%d" % (i % 5),
            "data": {"i": i, "at": ts}}


def _kinesis_accept(method: str, kwargs: Dict[str, Any], number: int) -> Dict[str, Any]:
    return {"FailedRecordCount": 0, "Records": [
        {"SequenceNumber": "%d%04d" % (number, i), "ShardId": "shardId-000000000000"}
        for i in range(len(kwargs["Records"]))]}


def _kinesis_fail_all(kwargs: Dict[str, Any], code: str) -> Dict[str, Any]:
    # The two per-record codes answer record by record; any other is the
    # whole request's exception.
    if code not in ("ProvisionedThroughputExceededException", "InternalFailure"):
        raise fakes.client_error(code, 400)
    return {"FailedRecordCount": len(kwargs["Records"]), "Records": [
        {"ErrorCode": code, "ErrorMessage": "injected"} for _ in kwargs["Records"]]}


KINESIS = Case(
    name="kinesis",
    writer=writers.WriteToKinesis,
    valid=_kinesis_valid,
    invalid=[{"stream_name": "bad name", "partition_key": "p", "data": "x"},
             {"stream_name": "contract-0", "partition_key": "", "data": "x"},
             {"stream_name": "contract-0", "partition_key": "p", "data": 5},
             {"stream_name": "contract-0", "partition_key": "p", "data": "x" * (1 << 20)}],
    accept=_kinesis_accept,
    fail_all=_kinesis_fail_all,
    indices=lambda kwargs: [json.loads(r["Data"])["i"] for r in kwargs["Records"]],
    retryable_code="ProvisionedThroughputExceededException",
    fatal_code="ResourceNotFoundException",
    fatal_stage="request",
    service_name="kinesis",
)

CASES = [SITEWISE, TWINMAKER, DATAZONE, CONNECT, IOTEVENTS, KINESIS]


# Reads a writer makes to tell a replay from a conflict: the fake holds nothing.
_EMPTY_READS = {"get_property_value_history": {"propertyValues": []},
                "list_data_table_values": {"Values": []}}


class FailFirstCalls:
    """Fails every entry of the first ``times`` calls with ``code``, then accepts.

    Reads back answer that nothing is stored.
    """

    def __init__(self, case: Case, code: str, times: int) -> None:
        self._case, self._code, self._times = case, code, times

    def __call__(self, method: str, kwargs: Dict[str, Any], number: int) -> Any:
        if method in _EMPTY_READS:
            return _EMPTY_READS[method]
        if number <= self._times:
            return self._case.fail_all(kwargs, self._code)
        return self._case.accept(method, kwargs, number)
