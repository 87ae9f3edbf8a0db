"""Thread-safe in-memory state of every service."""

from __future__ import annotations

import contextlib
import copy
import threading
from typing import Any, Dict, Iterable, Iterator, Tuple

__all__ = ["SNAPSHOT_KEYS", "Store"]

#: The mapping each service's snapshot holds, there even when nothing is stored.
SNAPSHOT_KEYS = {"iotsitewise": "values", "iottwinmaker": "values", "datazone": "dataPoints",
                 "connect": "values", "iotevents-data": "messages"}


class Store:
    """What the emulated services hold.

    Each service has a public part (JSON-ready, shown by :meth:`snapshot`) and a
    private part for bookkeeping such as idempotency tokens. One lock guards all.

    Args:
        services: The service names.
    """

    def __init__(self, services: Iterable[str]) -> None:
        self._services = tuple(services)
        self._lock = threading.RLock()
        self._public: Dict[str, Dict[str, Any]] = {}
        self._private: Dict[str, Dict[str, Any]] = {}
        self.reset()

    @contextlib.contextmanager
    def open(self, service: str) -> Iterator[Tuple[Dict[str, Any], Dict[str, Any]]]:
        """Holds the lock and yields the service's (public, private) state."""
        with self._lock:
            yield self._public[service], self._private[service]

    def snapshot(self) -> Dict[str, Any]:
        """A deep copy of every service's public state."""
        with self._lock:
            return copy.deepcopy(self._public)

    def reset(self) -> None:
        """Forgets everything stored."""
        with self._lock:
            self._public = {service: {SNAPSHOT_KEYS[service]: {}} if service in SNAPSHOT_KEYS
                            else {} for service in self._services}
            self._private = {service: {} for service in self._services}
