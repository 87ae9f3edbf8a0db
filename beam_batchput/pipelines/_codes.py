"""The error codes a dead letter of each service can carry, for checking command lines.

A dead letter's ``error_code`` is one of: a validation code of the writer (the
record never left), a code of the service (a whole-request exception of its
botocore model, or a per-entry code of its error enums), a code of the
writers' retry tables, a botocore exception name (connection, credentials,
serialization), or a code of the pipelines' readers (an unreadable file).
"""

from __future__ import annotations

import functools
import inspect
from typing import FrozenSet

import botocore.exceptions

from beam_batchput.core.service import (
    RESOURCE_ERROR_CODES,
    THROTTLING_ERROR_CODES,
    TRANSIENT_ERROR_CODES,
)

__all__ = ["known_error_codes"]

#: Codes of the writers' own checks, before anything is sent.
VALIDATION_CODES: FrozenSet[str] = frozenset({
    "InvalidCharacters", "InvalidEncoding", "InvalidJson", "InvalidLength", "InvalidPattern",
    "InvalidPrimaryValues", "InvalidRecord", "InvalidRecordType", "InvalidTimestamp",
    "InvalidType", "InvalidValue", "ItemTooLarge", "MissingField", "NestingTooDeep",
    "PayloadTooLarge", "TimestampOutOfRange", "TooManyElements", "UnknownField",
    "ValueOutOfRange",
})

#: Codes the pipelines give: unreadable input files, dead letters that cannot be redriven.
PIPELINE_CODES: FrozenSet[str] = frozenset({
    "CorruptAvroFile", "SchemaMismatch", "UnknownService", "UndecodableRecord",
})

#: Codes of the client side of a request.
CLIENT_CODES: FrozenSet[str] = frozenset({
    "ParamValidationError", "RequestSerializationError", "SSLError", "Unknown",
    # Connect's entry failures without a recognisable code.
    "Failed",
    # Authentication and authorization errors common to AWS APIs.
    "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
    "ExpiredTokenException", "IncompleteSignature", "MissingAuthenticationToken",
    "RequestExpired", "InvalidClientTokenId", "NotAuthorized", "OptInRequired",
    "ValidationError", "ValidationException", "UnauthorizedException",
})


def _botocore_exception_names() -> FrozenSet[str]:
    base = botocore.exceptions.BotoCoreError
    return frozenset(name for name, value in vars(botocore.exceptions).items()
                     if inspect.isclass(value) and issubclass(value, base))


@functools.lru_cache(maxsize=None)
def known_error_codes(service: str) -> FrozenSet[str]:
    """Every code a dead letter of ``service`` (a botocore service name) can carry."""
    from beam_batchput import _botocore

    model = _botocore.new_session().get_service_model(service)
    codes = set(shape.name for shape in model.error_shapes)
    for name in model.shape_names:
        shape = model.shape_for(name)
        if name.endswith("ErrorCode") and getattr(shape, "enum", None):
            codes.update(shape.enum)
    codes |= (VALIDATION_CODES | PIPELINE_CODES | CLIENT_CODES | TRANSIENT_ERROR_CODES
              | THROTTLING_ERROR_CODES | RESOURCE_ERROR_CODES | _botocore_exception_names())
    return frozenset(codes)
