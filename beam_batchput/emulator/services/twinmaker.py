"""AWS IoT TwinMaker: BatchPutPropertyValues and GetPropertyValueHistory.

Resources section (a component maps to its property names, or to
``{"properties": [...]}``; components may be named by name or path)::

    {"workspaces": {"factory": {"entities": {"mixer-1": {"components": {
        "telemetry": ["temperature", "rpm"]}}}}}}

Values are stored under ``workspace/entity/component/property``; a reference by
``externalIdProperty`` alone is stored under ``workspace/externalId:k=v,.../property``
and is not checked against the resources.

No AWS page says what writing a value at a time that already holds one answers
(a replay, or another value), so the section's ``replay_answer`` picks one:
``overwrite`` (the default: the value at that time is replaced) or ``conflict``
(the entry fails with ConflictException, its values unstored).
"""

from __future__ import annotations

import bisect
import json
from typing import Any, Dict, List, Mapping, Optional, Tuple

from beam_batchput.emulator._time import format_iso8601, parse_iso8601
from beam_batchput.emulator.errors import ServiceErrors
from beam_batchput.emulator.faults import EntryFault, FaultInjector
from beam_batchput.emulator.services.base import ServiceHandler, paginate

__all__ = ["TwinMakerHandler"]

DEFAULT_HISTORY_RESULTS = 200
# errorCode of an entry that writes another value at the same time as an earlier entry
# of the same request (the API reference shows "409" for such conflicts).
CONFLICT_ENTRY_CODE = "409"
# errorCode of an entry with a value at a time the store already holds, when the
# replay answer is "conflict".
STORED_CONFLICT_CODE = "ConflictException"

_DATA_VALUE_MEMBERS = ("booleanValue", "doubleValue", "integerValue", "longValue", "stringValue",
                       "listValue", "mapValue", "relationshipValue", "expression")
_RETRYABLE_ENTRY_CODES = ("ThrottlingException", "InternalServerException")
_FATAL_ENTRY_CODES = ("ValidationException", "AccessDeniedException")


def _component(reference: Mapping[str, Any]) -> Optional[str]:
    return reference.get("componentName") or reference.get("componentPath")


class TwinMakerHandler(ServiceHandler):
    """IoT TwinMaker's property value writes and history reads."""

    service = "iottwinmaker"
    errors = ServiceErrors(validation="ValidationException", internal="InternalServerException")
    replay_answers = ("overwrite", "conflict")
    operations = {"BatchPutPropertyValues": "batch_put",
                  "GetPropertyValueHistory": "history"}

    def load_resources(self, section: Mapping[str, Any]) -> None:
        self._properties: Dict[str, Dict[str, Dict[str, set]]] = {}
        for workspace, spec in (section.get("workspaces") or {}).items():
            entities = (spec or {}).get("entities") or {}
            self._properties[workspace] = {}
            for entity, entity_spec in entities.items():
                components = (entity_spec or {}).get("components") or {}
                self._properties[workspace][entity] = {
                    name: set(props.get("properties", []) if isinstance(props, Mapping)
                              else props or [])
                    for name, props in components.items()}

    def _check_workspace(self, workspace: str) -> None:
        if self.declared and workspace not in self._properties:
            raise self.error("not_found", "Workspace %s not found." % workspace)

    def _missing(self, workspace: str, reference: Mapping[str, Any],
                 properties: List[str]) -> Optional[str]:
        """Why the referenced properties do not exist, or None when they do."""
        if not self.declared or not reference.get("entityId"):
            return None
        entity = self._properties[workspace].get(reference["entityId"])
        if entity is None:
            return "Entity %s not found." % reference["entityId"]
        component = entity.get(_component(reference))
        if component is None:
            return "Component %s not found." % _component(reference)
        for name in properties:
            if name not in component:
                return "Property %s not found." % name
        return None

    # BatchPutPropertyValues

    def batch_put(self, params: Dict[str, Any], faults: FaultInjector) -> Dict[str, Any]:
        workspace = params["workspaceId"]
        self._check_workspace(workspace)
        planned = [self._plan_entry(workspace, entry) for entry in params["entries"]]
        error_entries = []
        written: Dict[Tuple[str, int], Any] = {}
        for entry, (key, points) in zip(params["entries"], planned):
            reference = entry["entityPropertyReference"]
            code, message = None, None
            missing = self._missing(workspace, reference, [reference["propertyName"]])
            if missing:
                code, message = "ResourceNotFoundException", missing
            else:
                fault = faults.entry_fault()
                if fault is not EntryFault.NONE:
                    code = faults.choice(_RETRYABLE_ENTRY_CODES if fault is EntryFault.RETRYABLE
                                         else _FATAL_ENTRY_CODES)
                    message = "Injected fault."
            if code is None:
                clash = [p for p in points
                         if written.get((key, p[0]), p[1]["value"]) != p[1]["value"]]
                if clash:
                    code, message = CONFLICT_ENTRY_CODE, ("Another entry of this request writes "
                                                          "a different value at the same time.")
            if code is None and self.replay_answer == "conflict" and self._held_times(
                    key, [nanos for nanos, _ in points]):
                code, message = STORED_CONFLICT_CODE, ("A value already exists at this time "
                                                       "for this property.")
            if code is not None:
                error_entries.append({"errors": [{"errorCode": code, "errorMessage": message,
                                                  "entry": entry}]})
                continue
            for nanos, point in points:
                written[(key, nanos)] = point["value"]
            self._store(key, points)
        return {"errorEntries": error_entries}

    def _plan_entry(self, workspace: str,
                    entry: Mapping[str, Any]) -> Tuple[str, List[Tuple[int, Dict[str, Any]]]]:
        """The stream key and (time in ns, stored point) of an entry; raises when invalid."""
        reference = entry["entityPropertyReference"]
        external = reference.get("externalIdProperty")
        if reference.get("entityId") and _component(reference):
            owner = "%s/%s" % (reference["entityId"], _component(reference))
        elif external:
            owner = "externalId:" + ",".join("%s=%s" % kv for kv in sorted(external.items()))
        else:
            raise self.error("validation", "An entityPropertyReference needs an entityId and a "
                             "componentName or componentPath, or an externalIdProperty.")
        values = entry.get("propertyValues")
        if not values:
            raise self.error("validation", "Each entry needs propertyValues.")
        points = []
        for value in values:
            present = [m for m in _DATA_VALUE_MEMBERS if value["value"].get(m) is not None]
            if len(present) != 1:
                raise self.error("validation", "A value must set exactly one of %s."
                                 % ", ".join(_DATA_VALUE_MEMBERS))
            points.append((self._nanos(value), {"time": self._time_text(value),
                                                "value": value["value"]}))
        return "%s/%s/%s" % (workspace, owner, reference["propertyName"]), points

    def _nanos(self, value: Mapping[str, Any]) -> int:
        if value.get("time") is not None:
            nanos = parse_iso8601(value["time"])
            if nanos is None:
                raise self.error("validation", "time %r is not an ISO-8601 date-time "
                                 "(YYYY-MM-DDThh:mm:ss[.SSSSSSSSS][Z/±HH:mm])." % value["time"])
            return nanos
        if value.get("timestamp") is not None:
            return int(round(value["timestamp"] * 1e9))
        raise self.error("validation", "Each property value needs a time.")

    def _time_text(self, value: Mapping[str, Any]) -> str:
        return value["time"] if value.get("time") is not None else format_iso8601(
            self._nanos(value))

    def _held_times(self, key: str, times: List[int]) -> bool:
        """Whether the store holds a value at any of these times."""
        with self.open() as (_, private):
            held = private.get("times", {}).get(key, [])
            return any(_contains(held, nanos) for nanos in times)

    def _store(self, key: str, points: List[Tuple[int, Dict[str, Any]]]) -> None:
        """Keeps each value; a value at the same time replaces the stored one."""
        with self.open() as (public, private):
            stored = public.setdefault("values", {}).setdefault(key, [])
            times: List[int] = private.setdefault("times", {}).setdefault(key, [])
            for nanos, point in points:
                position = bisect.bisect_left(times, nanos)
                if position < len(times) and times[position] == nanos:
                    stored[position] = point
                else:
                    times.insert(position, nanos)
                    stored.insert(position, point)

    # GetPropertyValueHistory

    def history(self, params: Dict[str, Any], faults: FaultInjector) -> Dict[str, Any]:
        workspace = params["workspaceId"]
        self._check_workspace(workspace)
        if not (params.get("entityId") and _component(params)):
            raise self.error("validation", "Name an entityId and a componentName or componentPath.")
        missing = self._missing(workspace, params, params["selectedProperties"])
        if missing:
            raise self.error("not_found", missing)
        start, end = self._bound(params, "startTime", "startDateTime"), self._bound(
            params, "endTime", "endDateTime")
        owner = "%s/%s/%s" % (workspace, params["entityId"], _component(params))
        flat = []
        with self.open() as (public, private):
            for name in params["selectedProperties"]:
                key = "%s/%s" % (owner, name)
                pairs = zip(private.get("times", {}).get(key, []),
                            public.get("values", {}).get(key, []))
                flat.extend((name, json.loads(json.dumps(point))) for nanos, point in pairs
                            if (start is None or nanos >= start) and (end is None or nanos <= end))
        if params.get("orderByTime") == "DESCENDING":
            flat.reverse()
        try:
            page, token = paginate(flat, params.get("maxResults"), params.get("nextToken"),
                                   DEFAULT_HISTORY_RESULTS)
        except ValueError as error:
            raise self.error("validation", str(error)) from error
        grouped: Dict[str, List[Dict[str, Any]]] = {}
        for name, point in page:
            grouped.setdefault(name, []).append(point)
        reference = {k: params[k] for k in ("entityId", "componentName", "componentPath")
                     if params.get(k)}
        answer: Dict[str, Any] = {"propertyValues": [
            {"entityPropertyReference": dict(reference, propertyName=name), "values": values}
            for name, values in grouped.items()]}
        if token:
            answer["nextToken"] = token
        return answer

    def _bound(self, params: Mapping[str, Any], text_key: str, epoch_key: str) -> Optional[int]:
        if params.get(text_key) is not None:
            nanos = parse_iso8601(params[text_key])
            if nanos is None:
                raise self.error("validation", "%s is not an ISO-8601 date-time." % text_key)
            return nanos
        if params.get(epoch_key) is not None:
            return int(round(params[epoch_key] * 1e9))
        return None


def _contains(ordered: List[int], value: int) -> bool:
    position = bisect.bisect_left(ordered, value)
    return position < len(ordered) and ordered[position] == value
