"""AWS credentials for a Google Cloud worker, by web identity federation.

A Google-signed ID token of the worker's service account, read from the
metadata server, is exchanged at the regional AWS STS endpoint
(``AssumeRoleWithWebIdentity``) for short-lived credentials of one IAM role.
No long-lived AWS key exists anywhere. The role's trust policy pins the
token's ``azp``/``sub`` to the service account's unique id and its ``aud`` to
the audience asked for here (``templates/aws/trust-policy-gcp.json``).

Two ways to use it:

- In process (what the Flex Template launcher, ``launch.py``, does): every
  writer client of a worker process reads one :class:`WebIdentitySession`
  through :class:`BotocoreProvider`; it fetches credentials once, and again
  only when they come within ``refresh_margin_seconds`` of expiry.
- As an AWS ``credential_process`` for any AWS SDK or CLI::

      credential_process = python gcp_web_identity.py --role-arn ARN --region eu-west-1

  Each run prints one set of credentials in the ``credential_process`` JSON
  format; the SDK calls it again before they expire.

Implementation note: STS is called with the standard library, not botocore:
``AssumeRoleWithWebIdentity`` is unsigned, and botocore's debug logging
writes request and response bodies (the token, the secret key) to its log.
Nothing here logs the token or a credential.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import logging
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

__all__ = ["DEFAULT_AUDIENCE", "METADATA_HOST", "AwsCredentials", "BotocoreProvider", "StsError",
           "WebIdentityConfig", "WebIdentitySession", "assume_role_with_web_identity",
           "credential_process_output", "fetch_google_id_token", "main", "shared_session",
           "sts_endpoint"]

_LOG = logging.getLogger(__name__)

#: The default audience of the Google ID token; the trust policy's ``oaud``.
DEFAULT_AUDIENCE = "sts.amazonaws.com"
#: The metadata server of Google Cloud VMs.
METADATA_HOST = "metadata.google.internal"
_IDENTITY_PATH = "/computeMetadata/v1/instance/service-accounts/default/identity"
_STS_NS = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/"}
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")
# STS error codes worth another attempt [AssumeRoleWithWebIdentity API reference, "Errors"].
_RETRYABLE_STS_CODES = frozenset({"IDPCommunicationError", "Throttling", "ServiceUnavailable",
                                  "InternalFailure"})


class StsError(RuntimeError):
    """STS or the metadata server refused; the message names the code, never the token."""

    def __init__(self, code: str, message: str, retryable: bool = False) -> None:
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.retryable = retryable


class AwsCredentials(NamedTuple):
    """Short-lived AWS credentials. ``repr`` shows the key id and expiry only."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime.datetime

    def __repr__(self) -> str:
        return "AwsCredentials(access_key_id=%r, expiration=%s)" % (
            self.access_key_id, self.expiration.isoformat())


def sts_endpoint(region_name: str) -> str:
    """The regional STS endpoint of ``region_name`` (never the global one)."""
    suffix = "amazonaws.com.cn" if region_name.startswith("cn-") else "amazonaws.com"
    return "https://sts.%s.%s/" % (region_name, suffix)


def _require(ok: bool, name: str, value: Any, expected: str) -> None:
    if not ok:
        raise ValueError("%s must be %s, got %r" % (name, expected, value))


@dataclasses.dataclass(frozen=True)
class WebIdentityConfig:
    """Which role to assume, where, and for how long.

    Args:
        role_arn: The IAM role that trusts the worker's service account.
        region_name: The AWS Region whose STS endpoint is called.
        audience: The ``aud`` of the Google ID token; the trust policy's
            ``accounts.google.com:oaud``.
        session_name: The role session name (shows in CloudTrail).
        duration_seconds: Lifetime asked of STS (900 to the role's maximum).
        refresh_margin_seconds: Credentials this close to expiry are replaced.
            At least 900, so they are renewed before botocore's own 15-minute
            advisory refresh window.
        metadata_host: ``host[:port]`` of the metadata server.
        sts_endpoint_url: Overrides the regional endpoint, e.g. a VPC endpoint.
        timeout_seconds: Timeout of each HTTP call.
        max_attempts: Attempts of each exchange on transient failures.
    """

    role_arn: str
    region_name: str
    audience: str = DEFAULT_AUDIENCE
    session_name: str = "beam-batchput"
    duration_seconds: int = 3600
    refresh_margin_seconds: float = 1200.0
    metadata_host: str = METADATA_HOST
    sts_endpoint_url: Optional[str] = None
    timeout_seconds: float = 10.0
    max_attempts: int = 3

    def __post_init__(self) -> None:
        _require(isinstance(self.role_arn, str) and bool(_ROLE_ARN.match(self.role_arn)),
                 "role_arn", self.role_arn, "an IAM role ARN")
        _require(isinstance(self.region_name, str) and bool(_REGION.match(self.region_name)),
                 "region_name", self.region_name, "an AWS Region such as eu-west-1")
        _require(isinstance(self.audience, str) and bool(self.audience), "audience",
                 self.audience, "a non-empty string")
        _require(isinstance(self.session_name, str) and bool(_SESSION_NAME.match(
            self.session_name)), "session_name", self.session_name, "2-64 of [\\w+=,.@-]")
        _require(isinstance(self.duration_seconds, int) and 900 <= self.duration_seconds <= 43200,
                 "duration_seconds", self.duration_seconds, "an int in 900..43200")
        _require(900 <= self.refresh_margin_seconds < self.duration_seconds,
                 "refresh_margin_seconds", self.refresh_margin_seconds,
                 "at least 900 and less than duration_seconds")
        _require(isinstance(self.metadata_host, str) and bool(self.metadata_host)
                 and "/" not in self.metadata_host, "metadata_host", self.metadata_host,
                 "host[:port]")
        _require(self.sts_endpoint_url is None or str(self.sts_endpoint_url).startswith(
            ("https://", "http://")), "sts_endpoint_url", self.sts_endpoint_url,
            "None or an http(s) URL")
        _require(self.timeout_seconds > 0, "timeout_seconds", self.timeout_seconds, "positive")
        _require(isinstance(self.max_attempts, int) and self.max_attempts >= 1, "max_attempts",
                 self.max_attempts, "a positive int")

    @property
    def endpoint(self) -> str:
        """The STS endpoint called."""
        return self.sts_endpoint_url or sts_endpoint(self.region_name)


# Implementation note: the metadata server answers in plain HTTP, so its
# requests never go through a proxy from the environment (the token would
# pass through it in the clear); STS goes over TLS, proxied as usual.
def _http(request: urllib.request.Request, timeout: float, proxied: bool = True
          ) -> Tuple[int, bytes]:
    handlers = [] if proxied else [urllib.request.ProxyHandler({})]
    opener = urllib.request.build_opener(*handlers)   # reads the proxy environment now
    try:
        with opener.open(request, timeout=timeout) as response:  # nosec B310: fixed schemes
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def fetch_google_id_token(config: WebIdentityConfig) -> str:
    """The worker's Google ID token for ``config.audience``, standard format."""
    query = urllib.parse.urlencode({"audience": config.audience, "format": "standard"})
    request = urllib.request.Request("http://%s%s?%s" % (config.metadata_host, _IDENTITY_PATH,
                                                         query),
                                     headers={"Metadata-Flavor": "Google"})
    try:
        status, body = _http(request, config.timeout_seconds, proxied=False)
    except (urllib.error.URLError, OSError) as error:
        raise StsError("MetadataUnreachable", "%s: %s" % (config.metadata_host, error),
                       retryable=True) from error
    if status != 200:
        raise StsError("MetadataRefused", "HTTP %d from the metadata server" % status,
                       retryable=status >= 500)
    return body.decode("ascii").strip()


def _sts_error(status: int, body: bytes) -> StsError:
    try:
        root = ElementTree.fromstring(body)
        code = root.findtext(".//sts:Error/sts:Code", namespaces=_STS_NS) or "HTTP%d" % status
        message = root.findtext(".//sts:Error/sts:Message", namespaces=_STS_NS) or ""
    except ElementTree.ParseError:
        code, message = "HTTP%d" % status, "unreadable error response"
    return StsError(code, message, retryable=code in _RETRYABLE_STS_CODES or status >= 500)


def assume_role_with_web_identity(config: WebIdentityConfig, token: str) -> AwsCredentials:
    """Exchanges ``token`` at ``config.endpoint`` for credentials of ``config.role_arn``."""
    form = urllib.parse.urlencode({
        "Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
        "RoleArn": config.role_arn, "RoleSessionName": config.session_name,
        "DurationSeconds": str(config.duration_seconds), "WebIdentityToken": token,
    }).encode("ascii")
    request = urllib.request.Request(config.endpoint, data=form, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    try:
        status, body = _http(request, config.timeout_seconds)
    except (urllib.error.URLError, OSError) as error:
        raise StsError("StsUnreachable", "%s: %s" % (config.endpoint, error),
                       retryable=True) from error
    if status != 200:
        raise _sts_error(status, body)
    try:
        node = ElementTree.fromstring(body).find(".//sts:Credentials", namespaces=_STS_NS)
    except ElementTree.ParseError as error:
        raise StsError("MalformedResponse", "the STS response is not XML") from error
    if node is None:
        raise StsError("MalformedResponse", "no Credentials in the STS response")
    fields = {name: node.findtext("sts:" + name, namespaces=_STS_NS)
              for name in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")}
    if not all(fields.values()):
        raise StsError("MalformedResponse", "incomplete Credentials in the STS response")
    expiration = datetime.datetime.fromisoformat(fields["Expiration"].replace("Z", "+00:00"))
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=datetime.timezone.utc)
    return AwsCredentials(fields["AccessKeyId"], fields["SecretAccessKey"],
                          fields["SessionToken"], expiration)


class WebIdentitySession:
    """Credentials of one role for one process: fetched once, renewed before expiry.

    Thread-safe: concurrent callers wait for one exchange.

    Args:
        config: The :class:`WebIdentityConfig`.
        clock: Seconds since the epoch (injected in tests).
        sleep: Waits between attempts (injected in tests).
        fetch_token: Returns the Google ID token for a config.
        exchange: Exchanges a token for :class:`AwsCredentials`.
    """

    def __init__(self, config: WebIdentityConfig, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep,
                 fetch_token: Callable[[WebIdentityConfig], str] = fetch_google_id_token,
                 exchange: Callable[[WebIdentityConfig, str], AwsCredentials]
                 = assume_role_with_web_identity) -> None:
        self.config = config
        self._clock, self._sleep = clock, sleep
        self._fetch_token, self._exchange = fetch_token, exchange
        self._lock = threading.Lock()
        self._current: Optional[AwsCredentials] = None

    def _fresh(self) -> bool:
        return (self._current is not None and self._current.expiration.timestamp() - self._clock()
                > self.config.refresh_margin_seconds)

    def credentials(self) -> AwsCredentials:
        """The current credentials, exchanged anew when near expiry.

        Raises:
            StsError: when every attempt failed or the refusal is final.
        """
        with self._lock:
            if not self._fresh():
                self._current = self._renew()
            return self._current

    def _renew(self) -> AwsCredentials:
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                renewed = self._exchange(self.config, self._fetch_token(self.config))
            except StsError as error:
                if not error.retryable or attempt == self.config.max_attempts:
                    raise
                _LOG.warning("AWS web identity exchange for %s failed (%s), attempt %d of %d",
                             self.config.role_arn, error.code, attempt, self.config.max_attempts)
                self._sleep(float(2 ** (attempt - 1)))
                continue
            _LOG.info("AWS credentials for %s obtained, valid until %s", self.config.role_arn,
                      renewed.expiration.isoformat())
            return renewed
        raise AssertionError("unreachable")  # the loop returns or raises

    def botocore_metadata(self) -> Dict[str, str]:
        """The credentials in the form botocore's ``RefreshableCredentials`` reads."""
        current = self.credentials()
        return {"access_key": current.access_key_id, "secret_key": current.secret_access_key,
                "token": current.session_token, "expiry_time": current.expiration.isoformat()}


_SESSIONS: Dict[WebIdentityConfig, WebIdentitySession] = {}
_SESSIONS_LOCK = threading.Lock()


def shared_session(config: WebIdentityConfig) -> WebIdentitySession:
    """This process's one :class:`WebIdentitySession` for ``config``."""
    with _SESSIONS_LOCK:
        if config not in _SESSIONS:
            _SESSIONS[config] = WebIdentitySession(config)
        return _SESSIONS[config]


class BotocoreProvider:
    """A botocore credential provider backed by a :class:`WebIdentitySession`.

    Insert it into a botocore session's resolver; the credentials it loads
    are refreshed through the session, so every botocore session of a process
    holding the same :func:`shared_session` shares one set.

    Args:
        session: The :class:`WebIdentitySession` to read.
    """

    METHOD = "gcp-web-identity"
    CANONICAL_NAME = "custom-gcp-web-identity"

    def __init__(self, session: WebIdentitySession) -> None:
        self._session = session

    def load(self) -> Any:
        from botocore.credentials import RefreshableCredentials

        return RefreshableCredentials.create_from_metadata(
            metadata=self._session.botocore_metadata(),
            refresh_using=self._session.botocore_metadata, method=self.METHOD)


def credential_process_output(credentials: AwsCredentials) -> Dict[str, Any]:
    """``credentials`` in the AWS ``credential_process`` JSON format (Version 1)."""
    expiration = credentials.expiration.astimezone(datetime.timezone.utc)
    return {"Version": 1, "AccessKeyId": credentials.access_key_id,
            "SecretAccessKey": credentials.secret_access_key,
            "SessionToken": credentials.session_token,
            "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ")}


def main(argv: Optional[list] = None, environ: Optional[Dict[str, str]] = None) -> int:
    """The ``credential_process`` command; prints JSON, or an error to stderr."""
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(description="AWS credential_process: Google ID token "
                                                 "-> STS AssumeRoleWithWebIdentity.")
    parser.add_argument("--role-arn", default=environ.get("AWS_ROLE_ARN"))
    parser.add_argument("--region", default=environ.get("AWS_REGION")
                        or environ.get("AWS_DEFAULT_REGION"))
    parser.add_argument("--audience", default=DEFAULT_AUDIENCE)
    parser.add_argument("--session-name", default="beam-batchput")
    parser.add_argument("--duration-seconds", type=int, default=3600)
    args = parser.parse_args(argv)
    try:
        config = WebIdentityConfig(
            role_arn=args.role_arn, region_name=args.region, audience=args.audience,
            session_name=args.session_name, duration_seconds=args.duration_seconds,
            metadata_host=environ.get("GCE_METADATA_HOST", METADATA_HOST),
            sts_endpoint_url=environ.get("AWS_ENDPOINT_URL_STS") or None)
        credentials = WebIdentitySession(config).credentials()
    except (ValueError, StsError) as error:
        sys.stderr.write("gcp_web_identity: %s\n" % error)
        return 1
    json.dump(credential_process_output(credentials), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
