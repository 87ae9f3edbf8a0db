"""``classify``: every whole-request error, by table, with the expected decision written here."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
    SSLError,
)

from beam_batchput.core.errors import RequestFailedError, classify
from beam_batchput.services.sitewise import SiteWiseService


def _client_error(code, status, message="said the service"):
    response = {"Error": {"Code": code, "Message": message}}
    if status is not None:
        response["ResponseMetadata"] = {"HTTPStatusCode": status}
    return ClientError(response, "BatchPutAssetPropertyValue")


# (error, code, retryable, throttled): an unknown code is decided by its status alone.
_CLIENT_ERRORS = [
    (_client_error("NotAKnownCode", 429), "NotAKnownCode", True, True),
    (_client_error("NotAKnownCode", 500), "NotAKnownCode", True, False),
    (_client_error("NotAKnownCode", 502), "NotAKnownCode", True, False),
    (_client_error("NotAKnownCode", 503), "NotAKnownCode", True, False),
    (_client_error("NotAKnownCode", 504), "NotAKnownCode", True, False),
    (_client_error("NotAKnownCode", 501), "NotAKnownCode", False, False),
    (_client_error("NotAKnownCode", 400), "NotAKnownCode", False, False),
    (_client_error("NotAKnownCode", 404), "NotAKnownCode", False, False),
    (_client_error("NotAKnownCode", None), "NotAKnownCode", False, False),
    # Known codes decide whatever the status says.
    (_client_error("ThrottlingException", 400), "ThrottlingException", True, True),
    (_client_error("ServiceUnavailableException", 400), "ServiceUnavailableException", True, False),
    (_client_error("InternalFailureException", None), "InternalFailureException", True, False),
    (_client_error("InvalidRequestException", 400), "InvalidRequestException", False, False),
    (_client_error("ResourceNotFoundException", 404), "ResourceNotFoundException", False, False),
    (_client_error("AccessDeniedException", 403), "AccessDeniedException", False, False),
]


@pytest.mark.parametrize("error, code, retryable, throttled", _CLIENT_ERRORS,
                         ids=lambda v: str(v) if not isinstance(v, Exception) else None)
def test_client_errors_are_decided_by_code_then_status(error, code, retryable, throttled):
    result = classify(SiteWiseService(), error)
    assert (result.code, result.retryable, result.throttled) == (code, retryable, throttled)
    assert result.message == "said the service"


def test_a_client_error_without_code_or_message_is_unknown_and_empty():
    error = ClientError({"ResponseMetadata": {"HTTPStatusCode": 503}}, "Op")
    result = classify(SiteWiseService(), error)
    assert (result.code, result.message, result.retryable, result.throttled) == (
        "Unknown", "", True, False)


_OTHER_ERRORS = [
    # TLS: a certificate that fails verification fails again.
    (SSLError(endpoint_url="https://x.invalid", error="bad certificate"), "SSLError", False),
    # The request may not have arrived or its answer was lost: send again.
    (EndpointConnectionError(endpoint_url="https://x.invalid"), "EndpointConnectionError", True),
    (ConnectTimeoutError(endpoint_url="https://x.invalid"), "ConnectTimeoutError", True),
    (ReadTimeoutError(endpoint_url="https://x.invalid"), "ReadTimeoutError", True),
    (ParamValidationError(report="entries: too many"), "ParamValidationError", False),
    (NoCredentialsError(), "NoCredentialsError", False),
    (TypeError("Object of type set is not JSON serializable"), "RequestSerializationError", False),
    (ValueError("Out of range float values are not JSON compliant"),
     "RequestSerializationError", False),
    (OverflowError("int too large"), "RequestSerializationError", False),
]


@pytest.mark.parametrize("error, code, retryable", _OTHER_ERRORS,
                         ids=[code for _, code, _ in _OTHER_ERRORS])
def test_other_errors_by_kind(error, code, retryable):
    result = classify(SiteWiseService(), error)
    assert (result.code, result.retryable, result.throttled) == (code, retryable, False)
    assert str(error) in result.message


def test_a_serialization_error_names_the_exception_type():
    result = classify(SiteWiseService(), TypeError("bad value"))
    assert result.message == "the client could not serialize the request: TypeError: bad value"


@pytest.mark.parametrize("error", [KeyError("entries"), RuntimeError("boom"), AttributeError("x")])
def test_an_error_of_our_own_code_is_not_classified_but_raised(error):
    with pytest.raises(TypeError) as raised:
        classify(SiteWiseService(), error)
    assert str(raised.value) == "not a botocore error: %r" % (error,)


def test_a_request_failed_error_names_service_target_code_and_message():
    error = RequestFailedError("iotsitewise", "/plant/p1", "AccessDeniedException", "denied")
    assert str(error) == "iotsitewise request to /plant/p1 failed: AccessDeniedException: denied"
    assert (error.service, error.resource, error.code, error.message) == (
        "iotsitewise", "/plant/p1", "AccessDeniedException", "denied")
