"""AWS IoT SiteWise: BatchPutAssetPropertyValue and GetAssetPropertyValueHistory.

Resources section::

    {"property_aliases": ["/plant/line1/temp"],
     "properties": [{"assetId": "<uuid>", "propertyId": "<uuid>",
                     "alias": "/plant/line1/rpm", "dataType": "INTEGER"}]}

``dataType`` (DOUBLE, INTEGER, BOOLEAN, STRING) is optional; when given, a value
of another type fails with InvalidRequestException. Values are stored under the
alias, or ``assetId/propertyId`` for a property without one.
"""

from __future__ import annotations

import bisect
import math
from typing import Any, Dict, List, Mapping, Optional, Tuple

from beam_batchput.emulator.errors import ServiceErrors
from beam_batchput.emulator.faults import EntryFault, FaultInjector
from beam_batchput.emulator.services.base import ServiceHandler, paginate

__all__ = ["SiteWiseHandler"]

# Limits from the user guide ("BatchPutAssetPropertyValue API") and the API reference;
# the service model carries none of them.
MAX_ENTRIES = 10
MAX_VALUES_PER_ENTRY = 10
MAX_STRING_LENGTH = 1024
MIN_DOUBLE, MAX_DOUBLE = -1e10, 1e10
PAST_WINDOW_SECONDS = 7 * 24 * 3600
FUTURE_WINDOW_SECONDS = 10 * 60
NULL_VALUE_QUALITIES = ("BAD", "UNCERTAIN")
DEFAULT_HISTORY_RESULTS = 100
MAX_HISTORY_RESULTS = 20000

_VARIANT_MEMBERS = ("stringValue", "integerValue", "doubleValue", "booleanValue", "nullValue")
_MEMBER_OF_TYPE = {"DOUBLE": "doubleValue", "INTEGER": "integerValue",
                   "BOOLEAN": "booleanValue", "STRING": "stringValue"}

# Per-entry error codes of injected faults.
_RETRYABLE_ENTRY_CODES = ("ThrottlingException", "InternalFailureException")
_FATAL_ENTRY_CODES = ("InvalidRequestException", "AccessDeniedException")

_Time = Tuple[int, int]


def _time_of(tqv: Mapping[str, Any]) -> _Time:
    stamp = tqv["timestamp"]
    return int(stamp["timeInSeconds"]), int(stamp.get("offsetInNanos", 0))


def _stamp(time: _Time) -> Dict[str, int]:
    return {"timeInSeconds": time[0], "offsetInNanos": time[1]}


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


class SiteWiseHandler(ServiceHandler):
    """IoT SiteWise's data-plane writes and history reads."""

    service = "iotsitewise"
    errors = ServiceErrors(validation="InvalidRequestException",
                           internal="InternalFailureException",
                           conflict="ConflictingOperationException")
    operations = {"BatchPutAssetPropertyValue": "batch_put",
                  "GetAssetPropertyValueHistory": "history"}

    def load_resources(self, section: Mapping[str, Any]) -> None:
        self._by_alias: Dict[str, str] = {}
        self._by_ids: Dict[Tuple[str, str], str] = {}
        self._data_types: Dict[str, str] = {}
        for alias in section.get("property_aliases", []):
            self._by_alias[alias] = alias
        for prop in section.get("properties", []):
            alias, ids = prop.get("alias"), (prop.get("assetId"), prop.get("propertyId"))
            if not alias and not all(ids):
                raise ValueError("iotsitewise property needs an alias or assetId and propertyId, "
                                 "got %r" % (prop,))
            key = alias or "%s/%s" % ids
            if alias:
                self._by_alias[alias] = key
            if all(ids):
                self._by_ids[ids] = key
            data_type = prop.get("dataType")
            if data_type is not None:
                if data_type not in _MEMBER_OF_TYPE:
                    raise ValueError("iotsitewise dataType must be one of %s, got %r"
                                     % (", ".join(_MEMBER_OF_TYPE), data_type))
                self._data_types[key] = data_type

    def _stream(self, reference: Mapping[str, Any]) -> Tuple[Optional[str], Optional[str]]:
        """(stream key, None) or (None, error code) of an alias or asset/property pair."""
        alias = reference.get("propertyAlias")
        ids = (reference.get("assetId"), reference.get("propertyId"))
        if not alias and not all(ids):
            return None, "InvalidRequestException"
        if not self.declared:
            return alias or "%s/%s" % ids, None
        key = self._by_alias.get(alias) if alias else self._by_ids.get(ids)
        return (key, None) if key else (None, "ResourceNotFoundException")

    # BatchPutAssetPropertyValue

    def batch_put(self, params: Dict[str, Any], faults: FaultInjector) -> Dict[str, Any]:
        entries = params["entries"]
        if len(entries) > MAX_ENTRIES:
            raise self.error("validation", "The request has %d entries; at most %d are allowed."
                             % (len(entries), MAX_ENTRIES))
        seen = set()
        for entry in entries:
            if entry["entryId"] in seen:
                raise self.error("validation", "Entry ids must be unique within a request: %s "
                                 "appears more than once." % entry["entryId"])
            seen.add(entry["entryId"])
            if len(entry["propertyValues"]) > MAX_VALUES_PER_ENTRY:
                raise self.error("validation", "Entry %s has %d property values; at most %d are "
                                 "allowed." % (entry["entryId"], len(entry["propertyValues"]),
                                               MAX_VALUES_PER_ENTRY))
        partial = bool(params.get("enablePartialEntryProcessing", False))
        error_entries = []
        for entry in entries:
            errors = self._put_entry(entry, partial, faults)
            if errors:
                error_entries.append({"entryId": entry["entryId"], "errors": errors})
        return {"errorEntries": error_entries}

    def _put_entry(self, entry: Mapping[str, Any], partial: bool,
                   faults: FaultInjector) -> List[Dict[str, Any]]:
        tqvs = entry["propertyValues"]
        every_time = [_time_of(tqv) for tqv in tqvs]
        key, code = self._stream(entry)
        if code == "InvalidRequestException":
            return [_entry_error(code, "An entry must name a propertyAlias, or an assetId and a "
                                 "propertyId.", every_time)]
        if code:
            return [_entry_error(code, "No asset property matches %s." % _describe(entry),
                                 every_time)]
        fault = faults.entry_fault()
        if fault is not EntryFault.NONE:
            codes = _RETRYABLE_ENTRY_CODES if fault is EntryFault.RETRYABLE else _FATAL_ENTRY_CODES
            return [_entry_error(faults.choice(codes), "Injected fault.", every_time)]
        failed: Dict[str, Tuple[str, List[_Time]]] = {}
        accepted = []
        for tqv, time in zip(tqvs, every_time):
            problem = self._tqv_problem(key, tqv, time)
            if problem:
                code, message = problem
                failed.setdefault(code, (message, []))[1].append(time)
            else:
                accepted.append((tqv, time))
        if not failed or partial:
            self._store(key, accepted)
        return [_entry_error(code, message, times) for code, (message, times) in failed.items()]

    def _tqv_problem(self, key: str, tqv: Mapping[str, Any],
                     time: _Time) -> Optional[Tuple[str, str]]:
        value, quality = tqv["value"], tqv.get("quality", "GOOD")
        present = [m for m in _VARIANT_MEMBERS if value.get(m) is not None]
        if len(present) != 1:
            return ("InvalidRequestException",
                    "A value must set exactly one of %s." % ", ".join(_VARIANT_MEMBERS))
        member = present[0]
        text = value.get("stringValue")
        if text is not None and (len(text) > MAX_STRING_LENGTH or _has_control(text)):
            return ("InvalidRequestException", "A stringValue has at most %d characters and no "
                    "control characters." % MAX_STRING_LENGTH)
        number = value.get("doubleValue")
        if number is not None and not math.isnan(number) and not MIN_DOUBLE <= number <= MAX_DOUBLE:
            return ("InvalidRequestException", "A doubleValue must lie in [%g, %g]."
                    % (MIN_DOUBLE, MAX_DOUBLE))
        if member == "nullValue" and quality not in NULL_VALUE_QUALITIES:
            return ("InvalidRequestException",
                    "A nullValue needs quality BAD or UNCERTAIN, not %s." % quality)
        data_type = self._data_types.get(key)
        if data_type and member != "nullValue" and member != _MEMBER_OF_TYPE[data_type]:
            return ("InvalidRequestException",
                    "The property's data type is %s; %s does not match." % (data_type, member))
        now = self.clock.time()
        seconds = time[0] + time[1] / 1e9
        if not now - PAST_WINDOW_SECONDS <= seconds <= now + FUTURE_WINDOW_SECONDS:
            return ("TimestampOutOfRangeException", "Timestamps must lie within the last 7 days "
                    "and the next 10 minutes.")
        return None

    def _store(self, key: str, accepted: List[Tuple[Mapping[str, Any], _Time]]) -> None:
        """Keeps each TQV; a stored one at the same time is overwritten only by the same
        quality (AWS: "overwrites TQVs with duplicate timestamps unless the newer TQV has
        a different quality")."""
        if not accepted:
            return
        with self.open() as (public, private):
            points = public.setdefault("values", {}).setdefault(key, [])
            index = private.setdefault("index", {}).setdefault(key, {})
            for tqv, time in accepted:
                point = {"timeInSeconds": time[0], "offsetInNanos": time[1],
                         "quality": tqv.get("quality", "GOOD"), "value": dict(tqv["value"])}
                existing = index.get(time)
                if existing is None:
                    position = bisect.bisect(
                        [(p["timeInSeconds"], p["offsetInNanos"]) for p in points], time)
                    points.insert(position, point)
                    index[time] = point
                elif existing["quality"] == point["quality"]:
                    existing["value"] = point["value"]

    # GetAssetPropertyValueHistory

    def history(self, params: Dict[str, Any], faults: FaultInjector) -> Dict[str, Any]:
        key, code = self._stream(params)
        if code == "InvalidRequestException":
            raise self.error("validation", "Name a propertyAlias, or an assetId and a propertyId.")
        if code:
            raise self.error("not_found", "No asset property matches %s." % _describe(params))
        max_results = params.get("maxResults")
        if max_results is not None and max_results > MAX_HISTORY_RESULTS:
            raise self.error("validation", "maxResults must be at most %d." % MAX_HISTORY_RESULTS)
        start, end = params.get("startDate"), params.get("endDate")
        qualities = params.get("qualities")
        with self.open() as (public, _):
            points = [dict(p) for p in public.get("values", {}).get(key, [])]
        chosen = [
            {"value": p["value"], "quality": p["quality"],
             "timestamp": _stamp((p["timeInSeconds"], p["offsetInNanos"]))}
            for p in points
            if (start is None or p["timeInSeconds"] + p["offsetInNanos"] / 1e9 >= start)
            and (end is None or p["timeInSeconds"] + p["offsetInNanos"] / 1e9 <= end)
            and (not qualities or p["quality"] in qualities)]
        if params.get("timeOrdering") == "DESCENDING":
            chosen.reverse()
        try:
            page, token = paginate(chosen, max_results, params.get("nextToken"),
                                   DEFAULT_HISTORY_RESULTS)
        except ValueError as error:
            raise self.error("validation", str(error)) from error
        answer: Dict[str, Any] = {"assetPropertyValueHistory": page}
        if token:
            answer["nextToken"] = token
        return answer


def _entry_error(code: str, message: str, times: List[_Time]) -> Dict[str, Any]:
    return {"errorCode": code, "errorMessage": message, "timestamps": [_stamp(t) for t in times]}


def _describe(reference: Mapping[str, Any]) -> str:
    if reference.get("propertyAlias"):
        return "alias %s" % reference["propertyAlias"]
    return "assetId %s, propertyId %s" % (reference.get("assetId"), reference.get("propertyId"))
