"""An in-process stub transport: real boto3 clients, canned answers, no network.

botocore serializes and signs every request as usual; a ``before-send`` handler
answers it instead of the HTTP layer, so CPU figures measure the client and
the connector, not a server.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from typing import Any, Dict, List, Tuple

from botocore.awsrequest import AWSResponse

from beam_batchput import ClientConfig

# Answers that say "all accepted", per service.
ACCEPTED: Dict[str, Any] = {
    "iotsitewise": {"errorEntries": []},
    "iottwinmaker": {"errorEntries": []},
    "datazone": {"forms": []},
    "connect": None,  # one success per value sent: see _connect_accepted
    "iotevents-data": {"BatchPutMessageErrorEntries": []},
    "kinesis": None,  # one result per record sent: see _kinesis_accepted
}

_COUNTS: Dict[str, int] = {}
# IoT Events requests seen, as (messages, payload bytes), by stub name.
_SHAPES: Dict[str, List[Tuple[int, int]]] = {}
_LOCK = threading.Lock()


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **kwargs: Any):
        yield self._body


def _kinesis_accepted(body: bytes) -> bytes:
    """PutRecords' answer storing every record, one result per record, in order."""
    records = json.loads(body)["Records"]
    return json.dumps({"FailedRecordCount": 0, "Records": [
        {"SequenceNumber": str(49_000_000 + i), "ShardId": "shardId-000000000000"}
        for i in range(len(records))]}).encode()


def _connect_accepted(body: bytes) -> bytes:
    """BatchCreateDataTableValue's answer storing every value: one ``Successful`` entry
    per value, naming its primary values and attribute (an empty list would confirm
    none, and the writer would read the values back and resend them)."""
    values = json.loads(body)["Values"]
    return json.dumps({"Failed": [], "Successful": [
        {"PrimaryValues": value.get("PrimaryValues", []),
         "AttributeName": value["AttributeName"], "RecordId": "record-%d" % i}
        for i, value in enumerate(values)]}).encode()


def requests_sent(name: str) -> int:
    """How many requests stubs named ``name`` answered in this process."""
    with _LOCK:
        return _COUNTS.get(name, 0)


def message_shapes(name: str) -> List[Tuple[int, int]]:
    """(messages, payload bytes) of each IoT Events request stubs named ``name`` answered."""
    with _LOCK:
        return list(_SHAPES.get(name, []))


def reset(name: str) -> None:
    with _LOCK:
        _COUNTS[name] = 0
        _SHAPES[name] = []


def stub_client(service: str, name: str = "stub", parameter_validation: bool = False) -> Any:
    """A real boto3 client of ``service`` whose requests the stub answers.

    ``parameter_validation=True`` is boto3's own default, as a hand-written
    loop gets it; the writers' clients have it off.
    """
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    client = ClientConfig(region_name="us-east-1", endpoint_url="http://stub.invalid",
                          parameter_validation=parameter_validation).create_client(service)
    body = json.dumps(ACCEPTED[service]).encode()
    status = 201 if service == "datazone" else 200

    def answer(request: Any, **kwargs: Any) -> AWSResponse:
        shape = None
        if service == "iotevents-data":
            messages = json.loads(request.body)["messages"]
            shape = (len(messages), sum(len(base64.b64decode(m["payload"])) for m in messages))
        with _LOCK:
            _COUNTS[name] = _COUNTS.get(name, 0) + 1
            if shape is not None:
                _SHAPES.setdefault(name, []).append(shape)
        answer_body = (_kinesis_accepted(request.body) if service == "kinesis"
                       else _connect_accepted(request.body) if service == "connect" else body)
        return AWSResponse(request.url, status, {"content-type": "application/json"},
                           _Raw(answer_body))

    client.meta.events.register("before-send", answer)
    return client


class StubClientFactory:
    """Picklable client factory for the writers."""

    def __init__(self, service: str, name: str = "stub",
                 parameter_validation: bool = False) -> None:
        self._service = service
        self._name = name
        self._parameter_validation = parameter_validation

    def __call__(self) -> Any:
        return stub_client(self._service, self._name, self._parameter_validation)
