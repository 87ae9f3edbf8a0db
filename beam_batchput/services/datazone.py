"""Amazon DataZone: PostTimeSeriesDataPoints.

One record is one time-series form data point of one asset or listing. A
request targets one entity and carries its forms; it succeeds or fails whole.
Each request carries a ``clientToken`` derived from its content, and DataZone
applies a token once: that is its only idempotency. By default a request
carries one form (``DEFAULT_MAX_FORMS_PER_REQUEST``), so the token is the
form's own, and a form sent again is not written twice however the engine
delivers it again: a retried request, a replayed bundle, or a restore from a
checkpoint after which the writer packs its records differently. AWS
documents no maximum of forms per request; ``max_forms_per_request`` above 1
sends fewer calls, but a form packed into another request on a replay (after
a Flink restore, for instance) is then a second data point.
``DEFAULT_MAX_REQUEST_BYTES`` (1 MiB) bounds the serialized forms per call.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from beam_batchput.core.config import positive_int
from beam_batchput.core.service import (
    TRANSIENT_ERROR_CODES,
    Entry,
    Failure,
    Item,
    Limits,
    Request,
    Service,
    content_id,
)
from beam_batchput.services._fields import MAX_YEAR, MIN_YEAR, Fields, format_iso

__all__ = ["DataZoneService", "DEFAULT_MAX_FORMS_PER_REQUEST", "DEFAULT_MAX_REQUEST_BYTES"]

# No documented maximum of forms per request (botocore model: the forms list has
# no min or max). Defaults of the connector's own choosing: one form per call,
# so that each form's clientToken is its own (see the module's docstring), and
# a byte budget far below the payload limits of AWS REST front ends (several
# MB), since one form's content alone may be 500,000 chars.
DEFAULT_MAX_FORMS_PER_REQUEST = 1
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024
# botocore model (TimeSeriesDataPointFormInput): formName 1-128, typeIdentifier
# 1-385 with a pattern, typeRevision 1-64, content at most 500,000 chars.
MAX_FORM_NAME_LENGTH = 128
MAX_TYPE_IDENTIFIER_LENGTH = 385
MAX_TYPE_REVISION_LENGTH = 64
MAX_CONTENT_LENGTH = 500_000
# botocore model (ClientToken): 1-128 chars of [\x21-\x7E]; a SHA-256 in hex.
CLIENT_TOKEN_LENGTH = 64
# Patterns from the botocore model (DomainId, EntityIdentifier, FormTypeIdentifier).
_DOMAIN_ID = re.compile(r"dzd[-_][a-zA-Z0-9_-]{1,36}")
_ENTITY_ID = re.compile(r"[a-zA-Z0-9_-]{1,36}")
_TYPE_IDENTIFIER = re.compile(r"(?!\.)[\w.]*\w", re.ASCII)
_ENTITY_TYPES = ("ASSET", "LISTING")
_FIELDS = frozenset(("domain_id", "entity_type", "entity_id", "form_name", "type_identifier",
                     "type_revision", "timestamp", "content"))
_NANOS_PER_MILLI = 1_000_000

# Whole-request exception names worth retrying: ThrottlingException (429) and
# InternalServerException (500), both in TRANSIENT_ERROR_CODES. Not retried:
# ValidationException 400, UnauthorizedException 401, AccessDeniedException 403,
# ResourceNotFoundException 404, ConflictException 409, and
# ServiceQuotaExceededException 402: DataZone's quotas count resources in a
# domain (assets, glossaries, ...), not requests per second, so waiting seconds
# does not free one; its rate limits answer with ThrottlingException instead.
_RETRYABLE = TRANSIENT_ERROR_CODES
_NOT_RETRYABLE = frozenset({"ValidationException", "UnauthorizedException",
                            "AccessDeniedException", "ResourceNotFoundException",
                            "ConflictException", "ServiceQuotaExceededException"})


def _content(fields: Fields) -> Optional[str]:
    """The form content as JSON text, or None when the record has none."""
    value = fields.raw("content")
    if value is None:
        return None
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            raise fields.fail("InvalidJson", "field 'content' is not JSON text") from None
        text = value
    elif isinstance(value, (Mapping, list, tuple)):
        text = fields.json_text("content", value)
    else:
        raise fields.fail("InvalidType", "field 'content' must be JSON text, a dict or a list, "
                          "got %s" % type(value).__name__)
    fields.require_utf8(text, "field 'content'")
    if len(text) > MAX_CONTENT_LENGTH:
        raise fields.fail("InvalidLength", "field 'content' has %d characters, at most %d "
                          "allowed" % (len(text), MAX_CONTENT_LENGTH))
    return text


def _timestamp(nanos: int, fields: Fields) -> Tuple[float, str]:
    """(epoch seconds, ISO-8601 text), at the millisecond precision botocore sends.

    Raises:
        InvalidRecord: outside the years 1-9999, which botocore cannot serialize.
    """
    # Rounded, not cut: epoch seconds given as a float carry binary noise
    # (1700000000.001 is 1700000000.000999928 s).
    millis = (nanos + _NANOS_PER_MILLI // 2) // _NANOS_PER_MILLI
    text = format_iso(millis * _NANOS_PER_MILLI, fraction_digits=3)
    if text is None:
        raise fields.fail("InvalidTimestamp", "timestamp %d ms is outside the years %d-%d"
                          % (millis, MIN_YEAR, MAX_YEAR))
    seconds = millis // 1000 if millis % 1000 == 0 else millis / 1000
    return seconds, text


class DataZoneService(Service):
    """Amazon DataZone PostTimeSeriesDataPoints.

    Records: ``domain_id``, ``entity_type`` (ASSET or LISTING), ``entity_id``,
    ``form_name``, ``type_identifier``, optional ``type_revision``,
    ``timestamp`` (epoch seconds, an aware datetime or ISO-8601 text; sent with
    millisecond precision) and optional ``content`` (JSON text, sent as given,
    or a dict or list sent as compact JSON with sorted keys; at most 500,000
    characters). Control characters are refused in ``form_name`` and
    ``type_revision``.

    AWS documents no maximum of forms per request; the defaults are the
    connector's own choice. With one form per request (the default), each
    form's ``clientToken`` is its own, so a form sent again is stored once
    whatever request the engine's replay packs it into; with more, only a
    request replayed as it was is recognised.

    Args:
        max_forms_per_request: Forms per request (default 1). More sends fewer
            calls; a form re-packed into another request on a replay is then
            stored again.
        max_request_bytes: Bytes of serialized forms per request (default
            1 MiB), or None for no byte budget. A single larger form is still
            sent, alone.
    """

    name = "datazone"
    operation = "PostTimeSeriesDataPoints"
    method = "post_time_series_data_points"
    limits = Limits(max_entries=DEFAULT_MAX_FORMS_PER_REQUEST, max_values_per_entry=1,
                    max_request_bytes=DEFAULT_MAX_REQUEST_BYTES)
    # One request scope is one table/entity already: one key each fills requests best.
    default_num_shards = 1
    retryable_codes = _RETRYABLE
    non_retryable_codes = _NOT_RETRYABLE

    def __init__(self, *, max_forms_per_request: int = DEFAULT_MAX_FORMS_PER_REQUEST,
                 max_request_bytes: Optional[int] = DEFAULT_MAX_REQUEST_BYTES) -> None:
        forms = positive_int("max_forms_per_request", max_forms_per_request)
        budget = positive_int("max_request_bytes", max_request_bytes, optional=True)
        self.limits = Limits(max_entries=forms, max_values_per_entry=1, max_request_bytes=budget)

    def item(self, record: Mapping[str, Any]) -> Item:
        fields = Fields(record, _FIELDS)
        domain = fields.string("domain_id", pattern=_DOMAIN_ID)
        entity_type = fields.string("entity_type", choices=_ENTITY_TYPES)
        entity = fields.string("entity_id", pattern=_ENTITY_ID)
        fields.resource = "%s/%s/%s" % (domain, entity_type, entity)
        form_name = fields.string("form_name", max_len=MAX_FORM_NAME_LENGTH, no_control=True)
        fields.resource = "%s/%s" % (fields.resource, form_name)
        type_identifier = fields.string("type_identifier", max_len=MAX_TYPE_IDENTIFIER_LENGTH,
                                        pattern=_TYPE_IDENTIFIER)
        revision = fields.string("type_revision", required=False,
                                 max_len=MAX_TYPE_REVISION_LENGTH, no_control=True)
        seconds, stamp = _timestamp(fields.timestamp_nanos("timestamp"), fields)
        content = _content(fields)
        form: Dict[str, Any] = {"formName": form_name, "typeIdentifier": type_identifier,
                                "timestamp": seconds}
        if revision is not None:
            form["typeRevision"] = revision
        if content is not None:
            form["content"] = content
        encoded = json.dumps(form, sort_keys=True, separators=(",", ":"))
        return Item(scope=(domain, entity_type, entity), group=None, payload=form,
                    size=len(encoded.encode("utf-8")),
                    sort_key="%s|%s" % (form_name, encoded),
                    item_id="%s@%s" % (fields.resource, stamp), resource=fields.resource)

    def shard_key(self, item: Item) -> str:
        """The entity: a request carries one entity's forms, so they meet in one shard."""
        return "/".join(item.scope)

    def build_request(self, scope: Tuple[str, ...], entries: Sequence[Entry]) -> dict:
        domain, entity_type, entity = scope
        forms: List[Dict[str, Any]] = [item.payload for entry in entries for item in entry.items]
        return {"domainIdentifier": domain, "entityType": entity_type,
                "entityIdentifier": entity, "forms": forms,
                "clientToken": content_id(list(scope), forms, length=CLIENT_TOKEN_LENGTH)}

    def failures(self, request: Request, response: Mapping[str, Any]) -> Iterable[Failure]:
        # The call succeeds or fails whole: a failed call raises, and the core
        # settles every item of the request from the error code.
        return ()
