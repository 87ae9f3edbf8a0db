"""The records the writers emit: receipts for what landed, dead letters for the rest.

Plain Python, no Beam: :mod:`beam_batchput.core.coders` registers their Beam coders.
"""

# Implementation note: no ``from __future__ import annotations`` here. Beam reads
# the NamedTuples' field types to give them a schema; with postponed (string)
# annotations every field becomes an opaque Python-only type, and other SDKs
# (Java through the expansion service) cannot decode receipts and dead letters.

import base64
import datetime
import decimal
import json
import reprlib
import typing
from typing import Any, Mapping

__all__ = ["DeadLetter", "Receipt", "Stage", "record_as_mapping", "record_to_json"]


class Stage:
    """Where in the path a record was refused (the ``stage`` of a DeadLetter)."""

    VALIDATION = "validation"
    ENTRY = "entry"
    REQUEST = "request"
    RETRIES_EXHAUSTED = "retries_exhausted"

    ALL = (VALIDATION, ENTRY, REQUEST, RETRIES_EXHAUSTED)


class DeadLetter(typing.NamedTuple):
    """A record the service or the connector refused, with the reason.

    Attributes:
        record: The original record as JSON text (bytes as ``{"$base64": ...}``,
            datetimes as ISO-8601 strings).
        service: The botocore service name, e.g. ``"iotsitewise"``.
        error_code: The service's error code, or the connector's for records
            refused before sending (e.g. ``"InvalidValue"``).
        error_message: A human-readable reason.
        stage: One of ``validation``, ``entry``, ``request``, ``retries_exhausted``.
        attempts: How many times the record was sent (0 if never).
        resource: The target the record named (property, table, input...).
        failed_at: ISO-8601 UTC time at which the record was dead-lettered.
    """

    record: str
    service: str
    error_code: str
    error_message: str
    stage: str
    attempts: int
    resource: str
    failed_at: str


class Receipt(typing.NamedTuple):
    """A record the service accepted.

    Attributes:
        service: The botocore service name.
        resource: The target the record was written to.
        item_id: The record's identity in the service (e.g. a SiteWise property
            and timestamp, an IoT Events messageId).
        attempts: How many sends it took.
        record: The original record as JSON text.
    """

    service: str
    resource: str
    item_id: str
    attempts: int
    record: str


def record_as_mapping(record: Any) -> Mapping[str, Any]:
    """Returns the fields of a dict, NamedTuple or ``beam.Row`` record.

    Raises:
        TypeError: if the record is none of those.
    """
    if type(record) is dict or isinstance(record, Mapping):  # the common case first
        return record
    as_dict = getattr(record, "_asdict", None)
    if callable(as_dict):
        return as_dict()
    raise TypeError(
        "a record must be a dict, a NamedTuple or a beam.Row, not %s" % type(record).__name__
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    as_dict = getattr(value, "_asdict", None)
    if callable(as_dict):
        return as_dict()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


# One encoder for every record: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(default=_json_default, sort_keys=True, allow_nan=True)
# Implementation note: JSONEncoder.encode builds its C encoder, with a fresh
# dict of the containers seen, on every call: about half the cost of encoding a
# small record. This one is built once, with the same options as _ENCODER and
# no cycle check: a cyclic record recurses until RecursionError, which
# record_to_json answers like any record it cannot encode.
_C_ENCODER = (json.encoder.c_make_encoder(  # type: ignore[attr-defined]
    None, _json_default, json.encoder.encode_basestring_ascii, None,  # type: ignore[attr-defined]
    _ENCODER.key_separator, _ENCODER.item_separator, True, False, True)
    if getattr(json.encoder, "c_make_encoder", None) is not None else None)


def _encode(fields: Any) -> str:
    if _C_ENCODER is None:  # an interpreter without the C accelerator
        return _ENCODER.encode(fields)
    return "".join(_C_ENCODER(fields, 0))


def record_to_json(record: Any) -> str:
    """The record as JSON text, for dead letters and receipts; never raises."""
    try:
        fields = record_as_mapping(record)
    except TypeError:
        fields = record
    try:
        return _encode(fields)
    except (TypeError, ValueError, RecursionError):
        try:
            text = repr(record)
        except RecursionError:
            # Nested deeper than repr can go: reprlib stops at a few levels.
            text = reprlib.repr(record)
        return json.dumps({"$repr": text[:4096]})
