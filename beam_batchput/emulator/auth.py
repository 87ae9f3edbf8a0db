"""Signature Version 4 checks of incoming requests.

The signature is recomputed from the request as received (method, path, query,
the headers named in ``SignedHeaders``, the payload hash) with the secret of the
access key named in the credential scope, and compared in constant time.
Secrets never leave this module: error messages name the access key at most.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Dict, List, Mapping, Optional, Tuple
from urllib.parse import quote

from beam_batchput.emulator.errors import ServiceError

__all__ = ["SigV4Verifier", "DEFAULT_CREDENTIALS"]

DEFAULT_CREDENTIALS: Mapping[str, str] = {"testing": "testing"}

_ALGORITHM = "AWS4-HMAC-SHA256"
_AUTH_PARAM = re.compile(r"(\w+)=([^,\s]*)")

# Answers AWS gives when signing goes wrong: (code, message).
_MISSING = ("MissingAuthenticationTokenException", "Missing Authentication Token")
_INCOMPLETE = ("IncompleteSignatureException",
               "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' "
               "parameters and an X-Amz-Date header.")
_UNRECOGNIZED = ("UnrecognizedClientException",
                 "The security token included in the request is invalid.")
_MISMATCH = ("InvalidSignatureException",
             "The request signature we calculated does not match the signature you provided. "
             "Check your AWS Secret Access Key and signing method. Consult the service "
             "documentation for details.")


def _reject(answer: Tuple[str, str]) -> ServiceError:
    return ServiceError(answer[0], answer[1], status=403)


def _normalize_path(path: str) -> str:
    """Removes dot segments and empty segments, as SigV4 signers do before encoding."""
    segments: List[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(segment)
    trailing = "/" if path.endswith("/") and segments else ""
    return "/" + "/".join(segments) + trailing


def _canonical_query(query: str) -> str:
    pairs = []
    for pair in query.split("&") if query else []:
        key, _, value = pair.partition("=")
        pairs.append((key, value))
    return "&".join("%s=%s" % kv for kv in sorted(pairs))


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


class SigV4Verifier:
    """Checks SigV4 ``Authorization`` headers against known credentials.

    Args:
        credentials: Access key id → secret access key.
    """

    def __init__(self, credentials: Optional[Mapping[str, str]] = None) -> None:
        self._secrets: Dict[str, str] = dict(DEFAULT_CREDENTIALS if credentials is None
                                             else credentials)

    def __repr__(self) -> str:
        return "SigV4Verifier(access_keys=%r)" % sorted(self._secrets)

    def verify(self, method: str, raw_path: str, headers: Mapping[str, str],
               body: bytes) -> str:
        """Returns the access key id of a correctly signed request.

        Args:
            method: The HTTP method.
            raw_path: The request target as received, query included, still percent-encoded.
            headers: The received headers (any case).
            body: The received body.

        Raises:
            ServiceError: 403 with the code AWS answers with.
        """
        lowered: Dict[str, List[str]] = {}
        for name, value in headers.items():
            lowered.setdefault(name.lower(), []).append(value)
        authorization = (lowered.get("authorization") or [""])[0]
        if not authorization:
            raise _reject(_MISSING)
        algorithm, _, rest = authorization.strip().partition(" ")
        params = dict(_AUTH_PARAM.findall(rest))
        amz_date = (lowered.get("x-amz-date") or [""])[0]
        credential = params.get("Credential", "").split("/")
        if (algorithm != _ALGORITHM or len(credential) != 5 or not params.get("Signature")
                or not params.get("SignedHeaders") or not amz_date):
            raise _reject(_INCOMPLETE)
        access_key, date, region, service, terminator = credential
        secret = self._secrets.get(access_key)
        if secret is None:
            raise _reject(_UNRECOGNIZED)
        if terminator != "aws4_request" or not amz_date.startswith(date):
            raise _reject(_MISMATCH)
        signed = params["SignedHeaders"].split(";")
        path, _, query = raw_path.partition("?")
        canonical_headers = "".join(
            "%s:%s\n" % (name, ",".join(" ".join(v.split()) for v in lowered.get(name, [])))
            for name in signed)
        payload_hash = ((lowered.get("x-amz-content-sha256") or [None])[0]
                        or hashlib.sha256(body).hexdigest())
        canonical_request = "\n".join([
            method.upper(), quote(_normalize_path(path), safe="/~"),
            _canonical_query(query), canonical_headers, params["SignedHeaders"], payload_hash])
        scope = "/".join(credential[1:])
        string_to_sign = "\n".join([
            _ALGORITHM, amz_date, scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()])
        key = _hmac(("AWS4" + secret).encode("utf-8"), date)
        for part in (region, service, "aws4_request"):
            key = _hmac(key, part)
        expected = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, params["Signature"]):
            raise _reject(_MISMATCH)
        return access_key
