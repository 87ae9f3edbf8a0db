"""The log of requests received, in arrival order."""

from __future__ import annotations

import copy
import threading
import time
from typing import Any, Dict, List, Optional

__all__ = ["RequestLog"]


class RequestLog:
    """Thread-safe list of request records.

    Each record: ``seq`` (arrival number), ``service``, ``operation``, ``status``
    (None for a dropped connection), ``errorCode`` (None on success), ``request``
    (the parsed input members, None when unparsable), ``response`` (the body of
    a successful answer, None otherwise) and ``delaySeconds`` (how long the
    answer was held back by an injected slow response); ``receivedAt`` and
    ``answeredAt``: wall-clock epoch seconds at arrival and when the outcome was
    decided (after injected latency, before a slow response's extra delay), so
    a benchmark can time the requests a run sent from the log alone.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: List[Dict[str, Any]] = []
        self._next = 0

    def open(self, service: Optional[str], operation: Optional[str]) -> Dict[str, Any]:
        """Appends a record at arrival and returns it for completion."""
        with self._lock:
            self._next += 1
            record = {"seq": self._next, "service": service, "operation": operation,
                      "status": None, "errorCode": None, "request": None,
                      "response": None, "delaySeconds": 0.0,
                      "receivedAt": time.time(), "answeredAt": None}
            self._records.append(record)
            return record

    def close(self, record: Dict[str, Any], status: Optional[int], error_code: Optional[str],
              request: Any, response: Any = None, delay: float = 0.0) -> None:
        """Fills in the outcome of a record."""
        with self._lock:
            record.update(status=status, errorCode=error_code, request=request,
                          response=response, delaySeconds=delay, answeredAt=time.time())

    def records(self) -> List[Dict[str, Any]]:
        """A copy of every record, oldest first."""
        with self._lock:
            return copy.deepcopy(self._records)

    def clear(self) -> None:
        """Forgets every record."""
        with self._lock:
            self._records = []
            self._next = 0
