"""AWS IoT Events Data: BatchPutMessage.

Resources section::

    {"inputs": ["pressureInput", "temperatureInput"]}

A detector processes a messageId once, so a message whose id an input already
holds is accepted again without being stored twice.
"""

from __future__ import annotations

import base64
from typing import Any, Dict, Mapping, Optional

from beam_batchput.emulator.errors import ServiceErrors
from beam_batchput.emulator.faults import EntryFault, FaultInjector
from beam_batchput.emulator.services.base import ServiceHandler

__all__ = ["IoTEventsHandler"]

# API reference, BatchPutMessage: "The following limits apply".
MAX_MESSAGES = 10
MAX_PAYLOAD_BYTES = 1024  # all payloads of one request together

_RETRYABLE_ENTRY_CODES = ("InternalFailureException", "ThrottlingException",
                          "ServiceUnavailableException")
_FATAL_ENTRY_CODES = ("InvalidRequestException",)


class IoTEventsHandler(ServiceHandler):
    """IoT Events' message ingestion."""

    service = "iotevents-data"
    errors = ServiceErrors(validation="InvalidRequestException",
                           internal="InternalFailureException")
    operations = {"BatchPutMessage": "batch_put"}

    def load_resources(self, section: Mapping[str, Any]) -> None:
        self._inputs = set(section.get("inputs") or [])

    def batch_put(self, params: Dict[str, Any], faults: FaultInjector) -> Dict[str, Any]:
        messages = params["messages"]
        if len(messages) > MAX_MESSAGES:
            raise self.error("validation", "The request has %d messages; at most %d are allowed."
                             % (len(messages), MAX_MESSAGES))
        payloads = [base64.b64decode(m["payload"]) for m in messages]
        total = sum(len(p) for p in payloads)
        if total > MAX_PAYLOAD_BYTES:
            raise self.error("validation", "The payloads total %d bytes; at most %d are allowed "
                             "per request." % (total, MAX_PAYLOAD_BYTES))
        ids = [m["messageId"] for m in messages]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise self.error("validation", "messageId must be unique within a batch: %s"
                             % ", ".join(duplicates))
        failures = []
        for message, payload in zip(messages, payloads):
            failure = self._failure(message, faults)
            if failure:
                failures.append(failure)
            else:
                self._store(message, payload)
        return {"BatchPutMessageErrorEntries": failures}

    def _failure(self, message: Mapping[str, Any],
                 faults: FaultInjector) -> Optional[Dict[str, str]]:
        if self.declared and message["inputName"] not in self._inputs:
            return {"messageId": message["messageId"], "errorCode": "ResourceNotFoundException",
                    "errorMessage": "Input %s not found." % message["inputName"]}
        fault = faults.entry_fault()
        if fault is EntryFault.NONE:
            return None
        codes = _RETRYABLE_ENTRY_CODES if fault is EntryFault.RETRYABLE else _FATAL_ENTRY_CODES
        return {"messageId": message["messageId"], "errorCode": faults.choice(codes),
                "errorMessage": "Injected fault."}

    def _store(self, message: Mapping[str, Any], payload: bytes) -> None:
        with self.open() as (public, private):
            seen = private.setdefault("ids", set())
            if (message["inputName"], message["messageId"]) in seen:
                return
            seen.add((message["inputName"], message["messageId"]))
            try:
                text: Optional[str] = payload.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            stored: Dict[str, Any] = {"messageId": message["messageId"],
                                      "payload": message["payload"], "payloadText": text}
            if message.get("timestamp"):
                stored["timestamp"] = dict(message["timestamp"])
            public.setdefault("messages", {}).setdefault(message["inputName"], []).append(stored)
