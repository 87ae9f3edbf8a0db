"""Seeded fault injection: latency, whole-request failures and per-entry errors."""

from __future__ import annotations

import dataclasses
import enum
import math
import random
import threading
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, TypeVar

from beam_batchput.emulator._fields import require_known_fields

__all__ = ["FaultConfig", "RequestFault", "EntryFault", "FaultInjector", "configs_from_mapping"]

_T = TypeVar("_T")

_RATE_FIELDS = ("throttle_rate", "server_error_rate", "unavailable_rate", "drop_connection_rate",
                "slow_response_rate", "entry_retryable_error_rate", "entry_fatal_error_rate")
_DURATION_FIELDS = ("latency_ms", "slow_response_ms")


@dataclasses.dataclass(frozen=True)
class FaultConfig:
    """Faults one service injects. Rates are probabilities in [0, 1] drawn per request
    (or per entry) from ``random.Random(seed)``, so a seeded run is repeatable.

    Attributes:
        latency_ms: Delay added to every request before it is handled.
        throttle_rate: Share of requests answered 429 ThrottlingException.
        server_error_rate: Share answered 500 with the service's internal error code.
        unavailable_rate: Share answered 503 ServiceUnavailableException.
        drop_connection_rate: Share whose connection is closed with no answer (not processed).
        slow_response_rate: Share processed normally but answered ``slow_response_ms`` late.
        slow_response_ms: Delay of a slow answer, e.g. longer than a client read timeout.
        entry_retryable_error_rate: Share of entries failed with a retryable per-entry error.
        entry_fatal_error_rate: Share of entries failed with a non-retryable per-entry error.
        seed: Seed of the random draws; None draws from fresh entropy.
    """

    latency_ms: float = 0.0
    throttle_rate: float = 0.0
    server_error_rate: float = 0.0
    unavailable_rate: float = 0.0
    drop_connection_rate: float = 0.0
    slow_response_rate: float = 0.0
    slow_response_ms: float = 0.0
    entry_retryable_error_rate: float = 0.0
    entry_fatal_error_rate: float = 0.0
    seed: Optional[int] = None

    def __post_init__(self) -> None:
        for name in _RATE_FIELDS:
            value = getattr(self, name)
            if not _is_number(value) or not 0.0 <= value <= 1.0:
                raise ValueError("%s must be a number in [0, 1], got %r" % (name, value))
        for name in _DURATION_FIELDS:
            value = getattr(self, name)
            if not _is_number(value) or value < 0 or math.isinf(value):
                raise ValueError("%s must be a non-negative number, got %r" % (name, value))
        whole = (self.throttle_rate + self.server_error_rate + self.unavailable_rate
                 + self.drop_connection_rate)
        if whole > 1.0:
            raise ValueError("throttle_rate + server_error_rate + unavailable_rate + "
                             "drop_connection_rate must be at most 1, got %r" % whole)
        entries = self.entry_retryable_error_rate + self.entry_fatal_error_rate
        if entries > 1.0:
            raise ValueError("entry_retryable_error_rate + entry_fatal_error_rate must be at "
                             "most 1, got %r" % entries)
        if self.seed is not None and (isinstance(self.seed, bool)
                                      or not isinstance(self.seed, int)):
            raise ValueError("seed must be an int or None, got %r" % (self.seed,))

    @property
    def has_entry_faults(self) -> bool:
        """Whether any per-entry error rate is set."""
        return self.entry_retryable_error_rate > 0 or self.entry_fatal_error_rate > 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FaultConfig":
        """Builds a config from a mapping of field names (e.g. parsed JSON).

        Raises:
            ValueError: On an unknown field or a bad value.
        """
        return cls(**require_known_fields(cls, data, "fault config"))

    def to_dict(self) -> dict:
        """The config as a JSON-ready mapping."""
        return dataclasses.asdict(self)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


class RequestFault(enum.Enum):
    """What happens to a whole request."""

    NONE = "none"
    THROTTLE = "throttle"
    SERVER_ERROR = "server_error"
    UNAVAILABLE = "unavailable"
    DROP = "drop"


class EntryFault(enum.Enum):
    """What happens to one entry of a batch."""

    NONE = "none"
    RETRYABLE = "retryable"
    FATAL = "fatal"


class FaultInjector:
    """Draws the faults of one service from its seeded random source.

    Implementation note: every request makes the same draws whatever the config
    (one for the request, one for slowness, one per entry), so the same seed and
    the same sequence of requests give the same faults.

    Args:
        config: The faults to inject.
    """

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._random = random.Random(config.seed)  # nosec B311 # seeded fault draws, not secrets
        self._lock = threading.Lock()

    def request_fault(self) -> RequestFault:
        """Draws the fate of a whole request."""
        c = self.config
        with self._lock:
            roll = self._random.random()
        for fault, rate in ((RequestFault.THROTTLE, c.throttle_rate),
                            (RequestFault.SERVER_ERROR, c.server_error_rate),
                            (RequestFault.UNAVAILABLE, c.unavailable_rate),
                            (RequestFault.DROP, c.drop_connection_rate)):
            if roll < rate:
                return fault
            roll -= rate
        return RequestFault.NONE

    def response_delay(self) -> float:
        """Seconds to hold a processed answer back (0 unless drawn slow)."""
        with self._lock:
            roll = self._random.random()
        if roll < self.config.slow_response_rate:
            return self.config.slow_response_ms / 1000.0
        return 0.0

    def entry_fault(self) -> EntryFault:
        """Draws the fate of one entry."""
        c = self.config
        with self._lock:
            roll = self._random.random()
        if roll < c.entry_retryable_error_rate:
            return EntryFault.RETRYABLE
        if roll < c.entry_retryable_error_rate + c.entry_fatal_error_rate:
            return EntryFault.FATAL
        return EntryFault.NONE

    def choice(self, options: Sequence[_T]) -> _T:
        """One of ``options``, drawn from the same seeded source."""
        with self._lock:
            return self._random.choice(options)


def configs_from_mapping(document: Mapping[str, Any],
                         services: Iterable[str]) -> Dict[str, Optional[FaultConfig]]:
    """Fault configs from a mapping of service name → field mapping (or None for none).

    A ``"*"`` entry applies to every service the mapping does not name.

    Raises:
        ValueError: When the document is not such a mapping or a config is bad.
    """
    if not isinstance(document, Mapping):
        raise ValueError("faults must map service names to fault configs, got %r" % (document,))
    from beam_batchput.emulator.resources import canonical_service

    configs: Dict[str, Optional[FaultConfig]] = {}
    for service, spec in document.items():
        if service != "*":
            configs[canonical_service(service)] = (None if spec is None
                                                   else FaultConfig.from_dict(spec))
    if "*" in document:
        for service in services:
            if service not in configs:
                spec = document["*"]
                configs[service] = None if spec is None else FaultConfig.from_dict(spec)
    return configs
