"""Configuration objects: frozen, keyword-only, validated at construction."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional, Union

__all__ = ["DEFAULT_MAX_IN_FLIGHT", "BatchingConfig", "ClientConfig", "RetryConfig",
           "SendingConfig", "positive_int"]

#: Requests a writer sends at once per DoFn instance, unless told otherwise.
DEFAULT_MAX_IN_FLIGHT = 4


def _require(condition: bool, name: str, value: Any, expected: str) -> None:
    if not condition:
        raise ValueError("%s must be %s, got %r" % (name, expected, value))


def _positive_number(name: str, value: Any) -> None:
    _require(
        isinstance(value, (int, float)) and not isinstance(value, bool)
        and math.isfinite(value) and value > 0,
        name, value, "a positive finite number",
    )


def positive_int(name: str, value: Any, *, optional: bool = False) -> Any:
    """``value`` if it is a positive integer (not a bool), or None when ``optional``.

    The one check of integer settings: configs, writers and service modules.

    Raises:
        ValueError: naming ``name`` and the value, otherwise.
    """
    if value is None and optional:
        return None
    _require(isinstance(value, int) and not isinstance(value, bool) and value > 0,
             name, value, "a positive integer" + (" or None" if optional else ""))
    return value


_positive_int = positive_int


@dataclasses.dataclass(frozen=True)
class RetryConfig:
    """How failed entries and transient request errors are retried.

    Args:
        max_attempts: Sends per record at most, the first one included; throttled
            sends do not count.
        initial_backoff_seconds: Upper bound of the first jittered delay.
        max_backoff_seconds: Cap of any single delay.
        max_retry_seconds: Time budget of a record's retries after errors other
            than throttling: the time of those failed sends and of their
            backoffs (not time queued behind throttled requests); past it the
            record is dead-lettered (stage ``retries_exhausted``).
        max_throttled_seconds: Time budget of a record's retries after
            throttling, from its first throttled send. Throttled sends do not
            count against ``max_attempts``: while this budget lasts a throttled
            record is retried, and the input waits meanwhile.
    """

    max_attempts: int = 5
    initial_backoff_seconds: float = 0.1
    max_backoff_seconds: float = 10.0
    max_retry_seconds: float = 120.0
    max_throttled_seconds: float = 900.0

    def __post_init__(self) -> None:
        _positive_int("max_attempts", self.max_attempts)
        _positive_number("initial_backoff_seconds", self.initial_backoff_seconds)
        _positive_number("max_backoff_seconds", self.max_backoff_seconds)
        _positive_number("max_retry_seconds", self.max_retry_seconds)
        _positive_number("max_throttled_seconds", self.max_throttled_seconds)
        _require(self.max_backoff_seconds >= self.initial_backoff_seconds,
                 "max_backoff_seconds", self.max_backoff_seconds,
                 ">= initial_backoff_seconds (%r)" % self.initial_backoff_seconds)


@dataclasses.dataclass(frozen=True)
class SendingConfig:
    """How fast a send step sends.

    Args:
        adaptive_concurrency: Adapt the requests in flight (between 1 and
            ``max_in_flight``) to what the service accepts: additive increase
            while requests succeed, multiplicative decrease when it throttles.
            The writer then makes every retry itself (botocore's own retries
            are turned off on its client), so resends are paced too.
            ``False`` keeps ``max_in_flight`` requests in flight whatever it
            answers, and botocore's retries as configured.
        max_requests_per_second: A cap on the requests each worker process
            starts per second (e.g. its share of a quota shared with other
            writers); None for no cap.
        max_records_per_second: A cap on the records (data points, messages,
            values) sent per second and worker process, for quotas that count
            them; None for no cap.
    """

    adaptive_concurrency: bool = True
    max_requests_per_second: Optional[float] = None
    max_records_per_second: Optional[float] = None

    def __post_init__(self) -> None:
        _require(isinstance(self.adaptive_concurrency, bool), "adaptive_concurrency",
                 self.adaptive_concurrency, "a bool")
        for name in ("max_requests_per_second", "max_records_per_second"):
            if getattr(self, name) is not None:
                _positive_number(name, getattr(self, name))


@dataclasses.dataclass(frozen=True)
class BatchingConfig:
    """How records are keyed and buffered before they are packed into requests.

    Args:
        max_buffering_seconds: Processing-time bound after which a partial
            batch is flushed (streaming); the end of a window flushes too.
        max_buffered_records: Records buffered per key and window before the
            full requests among them are sent; ``None`` takes the service's
            default (a few requests' worth).
        num_shards: Keys per request scope, for parallelism; records that must
            meet in one entry (e.g. one SiteWise property) share a shard.
            ``None`` takes the service's default (4 where one scope may take
            any record, 1 where the scope is already one entity or table).
    """

    max_buffering_seconds: float = 5.0
    max_buffered_records: Optional[int] = None
    num_shards: Optional[int] = None

    def __post_init__(self) -> None:
        _positive_number("max_buffering_seconds", self.max_buffering_seconds)
        if self.max_buffered_records is not None:
            _positive_int("max_buffered_records", self.max_buffered_records)
        if self.num_shards is not None:
            _positive_int("num_shards", self.num_shards)


@dataclasses.dataclass(frozen=True)
class ClientConfig:
    """How a DoFn builds its boto3 client on the worker.

    Credentials come from the standard boto3 chain on the worker (environment,
    profile, instance or workload identity); they are never part of this object.

    Args:
        region_name: AWS Region, e.g. ``"eu-west-1"``.
        endpoint_url: A custom endpoint (e.g. the local emulator). Host-prefix
            injection is then turned off so ``data.`` is not prepended.
        profile_name: A named profile of the worker's AWS config.
        boto_config: A ``botocore.config.Config`` merged over the defaults.
        verify: TLS verification: ``True`` (default), or a CA bundle path.
        max_pool_connections: HTTP connections per client.
        connect_timeout: Seconds to connect.
        read_timeout: Seconds to wait for a response.
        botocore_max_attempts: Attempts (the first included) of botocore's standard retry mode
            for whole-request throttling, 5xx and connection errors.
        parameter_validation: botocore's check of every request against the
            service model before sending. Off by default: the writers check each
            record before packing it, the service checks the request again,
            and the check costs about as much CPU as serializing and signing
            (14 µs per SiteWise point). A request the client cannot serialize
            is dead-lettered either way. With it off, a service module that
            writes its request bodies itself (SiteWise) hands botocore the
            body ready-made, byte for byte what botocore would write (see
            :mod:`beam_batchput.core.prebuilt`); signing, retries, endpoints
            and the answer's parsing stay botocore's.
    """

    region_name: Optional[str] = None
    endpoint_url: Optional[str] = None
    profile_name: Optional[str] = None
    boto_config: Any = None
    verify: Union[bool, str] = True
    max_pool_connections: int = 16
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    botocore_max_attempts: int = 3
    parameter_validation: bool = False

    def __post_init__(self) -> None:
        for name in ("region_name", "endpoint_url", "profile_name"):
            value = getattr(self, name)
            _require(value is None or (isinstance(value, str) and value), name, value,
                     "None or a non-empty string")
        if self.endpoint_url is not None:
            _require(self.endpoint_url.startswith(("http://", "https://")), "endpoint_url",
                     self.endpoint_url, "an http:// or https:// URL")
        _require(self.verify is True or (isinstance(self.verify, str) and bool(self.verify)),
                 "verify", self.verify, "True or a CA bundle path")
        _positive_int("max_pool_connections", self.max_pool_connections)
        _positive_number("connect_timeout", self.connect_timeout)
        _positive_number("read_timeout", self.read_timeout)
        _positive_int("botocore_max_attempts", self.botocore_max_attempts)
        _require(isinstance(self.parameter_validation, bool), "parameter_validation",
                 self.parameter_validation, "a bool")
        if self.boto_config is not None:
            import botocore.config

            _require(isinstance(self.boto_config, botocore.config.Config), "boto_config",
                     self.boto_config, "a botocore.config.Config")

    def create_client(self, service_name: str, botocore_session: Any = None) -> Any:
        """Builds a boto3 client for ``service_name``; called on the worker.

        Args:
            service_name: The botocore service name.
            botocore_session: A session from ``beam_batchput._botocore.new_session()``
                with a credential provider of its own; None makes a new one.
        """
        import boto3
        import botocore.config

        from beam_batchput import _botocore

        session = boto3.Session(
            botocore_session=botocore_session or _botocore.new_session(),
            profile_name=self.profile_name,
            region_name=self.region_name,
        )
        config = botocore.config.Config(
            retries={"mode": "standard", "total_max_attempts": self.botocore_max_attempts},
            max_pool_connections=self.max_pool_connections,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            parameter_validation=self.parameter_validation,
            # Implementation note: SiteWise and TwinMaker writes carry a
            # ``data.`` host prefix, which breaks any custom endpoint.
            inject_host_prefix=self.endpoint_url is None,
        )
        if self.boto_config is not None:
            config = config.merge(self.boto_config)
        from beam_batchput.core import prebuilt

        client = session.client(
            service_name, endpoint_url=self.endpoint_url, config=config, verify=self.verify
        )
        prebuilt.enable(client)
        return client
