"""Amazon Connect data tables: BatchCreateDataTableValue and ListDataTableValues.

Resources section (attributes as names, or name → {"type", "primary"}; type is
TEXT, NUMBER or BOOLEAN, TEXT when omitted)::

    {"instances": {"inst-1": {"data_tables": {"routing": {"attributes": {
        "queue": {"type": "TEXT", "primary": true},
        "priority": {"type": "NUMBER"}}}}}}}

A value is identified by its primary values and attribute name. A different
value for one that exists needs the current ``LockVersion`` and replaces it;
otherwise it fails with ConflictException. No AWS page says what creating a
value that exists with the same value (a replay) answers, so the section's
``replay_answer`` picks one: ``success`` (the default: the same RecordId again),
``failed`` (a ``Failed`` entry, ``DuplicateResourceException: ...``) or
``exception`` (the whole request fails with DuplicateResourceException, 409,
when any of its values exists).
Failed entries carry a message only; it starts with the error's name
(e.g. ``ThrottlingException: ...``) so a caller can tell what is retryable.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Dict, List, Mapping, Optional, Tuple

from beam_batchput.emulator.errors import ServiceError, ServiceErrors
from beam_batchput.emulator.faults import EntryFault, FaultInjector
from beam_batchput.emulator.services.base import ServiceHandler, paginate

__all__ = ["ConnectHandler"]

DEFAULT_LIST_RESULTS = 100
VALUE_TYPES = ("TEXT", "NUMBER", "BOOLEAN")

_RETRYABLE_ENTRY_MESSAGES = ("ThrottlingException: Rate exceeded; retry the value.",
                             "InternalServiceException: The value could not be written; retry.")
_FATAL_ENTRY_MESSAGES = ("InvalidRequestException: The value failed validation (injected fault).",
                         "AccessDeniedException: Not authorized to write this value.")

_Key = Tuple[Tuple[Tuple[str, str], ...], str]

_DUPLICATE = "DuplicateResourceException"
_DUPLICATE_MESSAGE = "A value already exists for this attribute and record."


def _matches_type(value: str, value_type: str) -> bool:
    if value_type == "NUMBER":
        try:
            float(value)
        except ValueError:
            return False
        return True
    if value_type == "BOOLEAN":
        return value.lower() in ("true", "false")
    return True


def _key_of(value: Mapping[str, Any]) -> _Key:
    """A value's identity: its sorted primary values and its attribute name."""
    primary = value.get("PrimaryValues") or []
    return (tuple(sorted((p["AttributeName"], p["Value"]) for p in primary)),
            value["AttributeName"])


class _Attribute:
    def __init__(self, value_type: str = "TEXT", primary: bool = False) -> None:
        if value_type not in VALUE_TYPES:
            raise ValueError("connect attribute type must be one of %s, got %r"
                             % (", ".join(VALUE_TYPES), value_type))
        self.value_type = value_type
        self.primary = bool(primary)


class ConnectHandler(ServiceHandler):
    """Connect's data table value writes and reads."""

    service = "connect"
    errors = ServiceErrors(validation="InvalidRequestException",
                           internal="InternalServiceException", message_key="Message")
    operations = {"BatchCreateDataTableValue": "batch_create",
                  "ListDataTableValues": "list"}
    replay_answers = ("success", "failed", "exception")

    def load_resources(self, section: Mapping[str, Any]) -> None:
        self._tables: Dict[Tuple[str, str], Dict[str, _Attribute]] = {}
        for instance, spec in (section.get("instances") or {}).items():
            for table, table_spec in ((spec or {}).get("data_tables") or {}).items():
                attributes = (table_spec or {}).get("attributes") or {}
                if isinstance(attributes, Mapping):
                    parsed = {name: _Attribute((a or {}).get("type", "TEXT"),
                                               (a or {}).get("primary", False))
                              for name, a in attributes.items()}
                else:
                    parsed = {name: _Attribute() for name in attributes}
                self._tables[(instance, table)] = parsed

    def _table(self, params: Mapping[str, Any]) -> Optional[Dict[str, _Attribute]]:
        """The declared attributes of the table (None when nothing is declared)."""
        if not self.declared:
            return None
        table = self._tables.get((params["InstanceId"], params["DataTableId"]))
        if table is None:
            raise self.error("not_found", "Data table %s not found in instance %s."
                             % (params["DataTableId"], params["InstanceId"]))
        return table

    # BatchCreateDataTableValue

    def batch_create(self, params: Dict[str, Any], faults: FaultInjector) -> Dict[str, Any]:
        attributes = self._table(params)
        table_key = "%s/%s" % (params["InstanceId"], params["DataTableId"])
        successful: List[Dict[str, Any]] = []
        failed: List[Dict[str, Any]] = []
        seen = set()
        if self.replay_answer == "exception":
            with self.open() as (_, private):
                held = (private.get(table_key) or {}).get("values") or {}
                existing = [_key_of(value) for value in params["Values"]
                            if _key_of(value) in held]
            if existing:
                raise ServiceError(_DUPLICATE, "%s (%d of the request's values)"
                                   % (_DUPLICATE_MESSAGE, len(existing)))
        for value in params["Values"]:
            primary = value.get("PrimaryValues") or []
            key = _key_of(value)
            problem = ("InvalidRequestException: The request names this value more than once."
                       if key in seen else self._problem(value, primary, attributes, faults))
            seen.add(key)
            if problem is None:
                outcome = self._write(table_key, key, value)
                if isinstance(outcome, str):
                    problem = outcome
                else:
                    successful.append({"PrimaryValues": primary,
                                       "AttributeName": value["AttributeName"], **outcome})
            if problem is not None:
                failed.append({"PrimaryValues": primary, "AttributeName": value["AttributeName"],
                               "Message": problem})
        return {"Successful": successful, "Failed": failed}

    def _problem(self, value: Mapping[str, Any], primary: List[Mapping[str, Any]],
                 attributes: Optional[Dict[str, _Attribute]],
                 faults: FaultInjector) -> Optional[str]:
        if attributes is not None:
            attribute = attributes.get(value["AttributeName"])
            if attribute is None:
                return ("ResourceNotFoundException: Attribute %s not found in the data table."
                        % value["AttributeName"])
            named = {p["AttributeName"] for p in primary}
            expected = {name for name, a in attributes.items() if a.primary}
            if named != expected:
                return ("InvalidRequestException: PrimaryValues must name the primary attributes "
                        "[%s], got [%s]." % (", ".join(sorted(expected)), ", ".join(sorted(named))))
            if not _matches_type(value["Value"], attribute.value_type):
                return ("InvalidRequestException: Value %r is not a valid %s."
                        % (value["Value"], attribute.value_type))
        fault = faults.entry_fault()
        if fault is EntryFault.NONE:
            return None
        return faults.choice(_RETRYABLE_ENTRY_MESSAGES if fault is EntryFault.RETRYABLE
                             else _FATAL_ENTRY_MESSAGES)

    def _write(self, table_key: str, key: _Key, value: Mapping[str, Any]):
        """The stored value's RecordId and LockVersion, or a failure message."""
        with self.open() as (public, private):
            state = private.setdefault(table_key, {"records": {}, "values": {}, "attributes": {}})
            existing = state["values"].get(key)
            if existing is not None:
                if existing["Value"] == value["Value"]:
                    if self.replay_answer == "failed":
                        return "%s: %s" % (_DUPLICATE, _DUPLICATE_MESSAGE)
                    return {"RecordId": existing["RecordId"],
                            "LockVersion": dict(existing["LockVersion"])}
                lock = value.get("LockVersion") or {}
                if lock.get("Value") != existing["LockVersion"]["Value"]:
                    return ("ConflictException: A different value exists for this attribute and "
                            "record; pass its current LockVersion to replace it.")
            primary_key, attribute = key
            record = state["records"].setdefault(primary_key, {"id": uuid.uuid4().hex,
                                                               "version": 0})
            record["version"] += 1
            state["attributes"][attribute] = state["attributes"].get(attribute, 0) + 1
            value_version = int(existing["LockVersion"]["Value"]) + 1 if existing else 1
            lock_version = {"DataTable": "1", "Attribute": str(state["attributes"][attribute]),
                            "PrimaryValues": str(record["version"]), "Value": str(value_version)}
            stored = {"RecordId": record["id"],
                      "PrimaryValues": [{"AttributeName": n, "Value": v} for n, v in primary_key],
                      "AttributeName": attribute, "Value": value["Value"],
                      "LockVersion": lock_version,
                      "LastModifiedTime": self.clock.time()}
            rows = public.setdefault("values", {}).setdefault(table_key, [])
            if existing is not None:
                rows[rows.index(existing)] = stored
            else:
                rows.append(stored)
            state["values"][key] = stored
            return {"RecordId": record["id"], "LockVersion": dict(lock_version)}

    # ListDataTableValues

    def list(self, params: Dict[str, Any], faults: FaultInjector) -> Dict[str, Any]:
        attributes = self._table(params) or {}
        table_key = "%s/%s" % (params["InstanceId"], params["DataTableId"])
        record_ids = set(params.get("RecordIds") or [])
        filters = params.get("PrimaryAttributeValues") or []
        with self.open() as (public, _):
            rows = json.loads(json.dumps(public.get("values", {}).get(table_key, [])))
        chosen = []
        for row in rows:
            primary = {p["AttributeName"]: p["Value"] for p in row["PrimaryValues"]}
            if record_ids and row["RecordId"] not in record_ids:
                continue
            if any(primary.get(f["AttributeName"]) not in f["Values"] for f in filters):
                continue
            attribute = attributes.get(row["AttributeName"])
            chosen.append(dict(row, ValueType=attribute.value_type if attribute else "TEXT"))
        try:
            page, token = paginate(chosen, params.get("MaxResults"), params.get("NextToken"),
                                   DEFAULT_LIST_RESULTS)
        except ValueError as error:
            raise self.error("validation", str(error)) from error
        answer: Dict[str, Any] = {"Values": page}
        if token:
            answer["NextToken"] = token
        return answer
