"""Errors the emulator answers with, and how each service names them."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Optional

__all__ = ["ServiceError", "ServiceErrors", "status_of"]

# HTTP status of each error code, as the services' models and AWS's front end define them.
_STATUS_BY_CODE: Mapping[str, int] = {
    "InvalidRequestException": 400,
    "InvalidParameterException": 400,
    "ValidationException": 400,
    "SerializationException": 400,
    "UnauthorizedException": 401,
    "ServiceQuotaExceededException": 402,
    "AccessDeniedException": 403,
    "MissingAuthenticationTokenException": 403,
    "IncompleteSignatureException": 403,
    "InvalidSignatureException": 403,
    "UnrecognizedClientException": 403,
    "ResourceNotFoundException": 404,
    "UnknownOperationException": 404,
    "ConflictException": 409,
    "ConflictingOperationException": 409,
    "DuplicateResourceException": 409,
    "LimitExceededException": 410,
    "ThrottlingException": 429,
    "InternalFailureException": 500,
    "InternalServerException": 500,
    "InternalServiceException": 500,
    "ServiceUnavailableException": 503,
}


def status_of(code: str) -> int:
    """The HTTP status that goes with an error code (500 when unknown)."""
    return _STATUS_BY_CODE.get(code, 500)


@dataclasses.dataclass(frozen=True)
class ServiceErrors:
    """The names one service gives to the errors every service can answer with.

    Attributes:
        validation: Code of a request that fails validation.
        internal: Code of an internal error (HTTP 500).
        conflict: Code of a conflicting request (HTTP 409).
        not_found: Code of a missing resource (HTTP 404).
        throttling: Code of a throttled request (HTTP 429).
        unavailable: Code of an unavailable service (HTTP 503).
        message_key: The member of the error body that holds the message.
    """

    validation: str
    internal: str
    conflict: str = "ConflictException"
    not_found: str = "ResourceNotFoundException"
    throttling: str = "ThrottlingException"
    unavailable: str = "ServiceUnavailableException"
    message_key: str = "message"


class ServiceError(Exception):
    """A whole-request error answer.

    Args:
        code: The error code, sent in the ``x-amzn-ErrorType`` header.
        message: The human-readable message.
        fields: Extra members of the error body.
        status: The HTTP status; derived from ``code`` when omitted.
    """

    def __init__(self, code: str, message: str, fields: Optional[Mapping[str, Any]] = None,
                 status: Optional[int] = None) -> None:
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        self.fields: Dict[str, Any] = dict(fields or {})
        self.status = status if status is not None else status_of(code)

    def body(self, message_key: str = "message") -> Dict[str, Any]:
        """The JSON body of the answer."""
        return {message_key: self.message, **self.fields}
