"""A local emulator of the five batch-put APIs, over real HTTP.

It routes and validates requests with botocore's service models, enforces the
documented limits the models lack, checks SigV4 signatures, keeps what it is
sent in memory, and injects seeded faults. Point boto3 at it with
``endpoint_url=emulator.endpoint_url``, ``**emulator.credentials`` and
``Config(inject_host_prefix=False)``; point the writers at it with
``client=emulator.client_config()`` inside ``with emulator.environment():`` (its
credentials in the standard chain); give a subprocess or the AWS CLI
``emulator.environ()``::

    with Emulator(config={"sitewise": {"property_aliases": ["/t1/power"]}}) as emulator:
        ...

The resources file (``config``) and the fault file (``faults``) are described,
with examples, in ``docs/EMULATOR.md``; services are named there by their short
names (``sitewise``, ``twinmaker``, ``datazone``, ``connect``, ``iotevents``) or
their botocore names.

Inspection API (no signature needed): ``GET /_emulator/store`` (the snapshot),
``GET /_emulator/requests`` (the request log), ``POST /_emulator/reset``,
``GET|POST /_emulator/faults`` (body: service or ``"*"`` → FaultConfig fields, or null),
``GET|POST /_emulator/quotas`` (body: service or ``"*"`` → overrides of its documented
quota defaults, ``{}`` for the defaults, or null for none; see ``quotas.py``),
``GET /_emulator/quota_stats`` (per throttled service: requests admitted and refused,
entries refused).

Snapshot JSON, keyed by botocore names: every service's key and its inner mapping
are always there, empty until something is stored::

    {"iotsitewise": {"values": {"<alias or assetId/propertyId>": [
        {"timeInSeconds": 1, "offsetInNanos": 0, "quality": "GOOD",
         "value": {"doubleValue": 1.5}}]}},                       # ordered by time
     "iottwinmaker": {"values": {"<workspace>/<entity>/<component>/<property>": [
        {"time": "2024-05-01T12:00:00Z", "value": {"doubleValue": 1.5}}]}},  # by time
     "datazone": {"dataPoints": {"<domain>/<ASSET|LISTING>/<entity>": [
        {"id": "...", "formName": "...", "typeIdentifier": "...", "typeRevision": "1",
         "timestamp": 1714564800.0, "content": "{...}"}]}},        # by timestamp
     "connect": {"values": {"<instance>/<table>": [
        {"RecordId": "...", "PrimaryValues": [{"AttributeName": "...", "Value": "..."}],
         "AttributeName": "...", "Value": "...", "LockVersion": {...},
         "LastModifiedTime": 1714564800.0}]}},
     "iotevents-data": {"messages": {"<inputName>": [
        {"messageId": "...", "payload": "<base64>", "payloadText": "<utf-8 or null>",
         "timestamp": {"timeInMillis": 1714564800000}}]}}}        # arrival order

Request log records: ``{"seq", "service", "operation", "status", "errorCode",
"request", "response", "delaySeconds", "receivedAt", "answeredAt"}`` where
``request`` holds the parsed input members (timestamps as epoch seconds), ``response`` the body of a successful
answer (its per-entry errors included), ``delaySeconds`` how long an injected slow
response held the answer back, ``receivedAt`` / ``answeredAt`` the epoch
seconds of arrival and of the outcome, ``status`` is None and ``errorCode``
"ConnectionDropped" for a dropped connection.
"""

from beam_batchput.emulator.faults import FaultConfig
from beam_batchput.emulator.server import REGION, Emulator

__all__ = ["Emulator", "FaultConfig", "REGION"]
