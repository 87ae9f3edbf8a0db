"""Classifying whole-request errors into retryable, throttling and fatal; the writers' errors."""

from __future__ import annotations

import dataclasses
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError as BotoConnectionError,
    HTTPClientError,
    ParamValidationError,
    SSLError,
)

from beam_batchput.core.service import Service

__all__ = ["DeadLetterThresholdExceeded", "RequestError", "RequestFailedError", "classify"]

_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})

# Exception types of botocore that mean the request may not have reached the
# service or its answer was lost: worth sending again.
_TRANSIENT_BOTOCORE = (BotoConnectionError, HTTPClientError)


@dataclasses.dataclass(frozen=True)
class RequestError:
    """A whole-request error, classified.

    Attributes:
        code: The service's error code or the botocore exception name.
        message: The error message.
        retryable: Whether sending again may succeed.
        throttled: Whether the service said it is throttling.
    """

    code: str
    message: str
    retryable: bool
    throttled: bool


class RequestFailedError(RuntimeError):
    """A whole request failed for good, raised in fail-fast mode.

    Args:
        service: The botocore service name.
        resource: The target of the request.
        code: The service's error code.
        message: The service's message.
    """

    def __init__(self, service: str, resource: str, code: str, message: str) -> None:
        super().__init__("%s request to %s failed: %s: %s" % (service, resource, code, message))
        self.service = service
        self.resource = resource
        self.code = code
        self.message = message


class DeadLetterThresholdExceeded(RuntimeError):
    """More dead letters than the threshold allows, in one window.

    Args:
        service: The botocore service name.
        window: The window judged.
        dead_letters: Dead letters in the window.
        records: Records the writer took in, in the window.
        threshold: The ratio allowed.
    """

    def __init__(self, service: str, window: Any, dead_letters: int, records: int,
                 threshold: float) -> None:
        super().__init__(
            "%s: %d of %d records dead-lettered in window %s (%.4g), more than the "
            "dead_letter_threshold %.4g allows; the first dead letters say why (a wrong "
            "Region, endpoint or role fails every record alike)" % (
                service, dead_letters, records, window,
                dead_letters / records if records else float("inf"), threshold))
        self.service = service
        self.dead_letters = dead_letters
        self.records = records
        self.threshold = threshold


def classify(service: Service, error: Exception) -> RequestError:
    """Classifies an exception raised by a client call.

    The chain: a ``ClientError`` by its code in the service's table, then by HTTP
    status (429 and 5xx are transient); TLS errors are fatal; connection and
    timeout errors are transient; parameter validation and any other botocore
    error is fatal, and so is a request the client could not serialize (a
    ``TypeError``, ``ValueError`` or ``OverflowError`` from the call, possible
    with parameter validation off).
    """
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        code = str(info.get("Code") or "Unknown")
        message = str(info.get("Message") or "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        throttled = service.is_throttling(code) or status == 429
        retryable = service.is_retryable(code) or status in _RETRYABLE_STATUS
        return RequestError(code, message, retryable, throttled)
    if isinstance(error, ParamValidationError):
        return RequestError("ParamValidationError", str(error), False, False)
    if isinstance(error, SSLError):
        # A subclass of ConnectionError, but a certificate that fails
        # verification fails again: fatal, not transient.
        return RequestError("SSLError", str(error), False, False)
    if isinstance(error, _TRANSIENT_BOTOCORE):
        return RequestError(type(error).__name__, str(error), True, False)
    if isinstance(error, BotoCoreError):
        return RequestError(type(error).__name__, str(error), False, False)
    if isinstance(error, (TypeError, ValueError, OverflowError)):
        return RequestError("RequestSerializationError", "the client could not serialize "
                            "the request: %s: %s" % (type(error).__name__, error), False, False)
    raise TypeError("not a botocore error: %r" % (error,))
