"""Dead-letter summaries: one WARNING per service per bundle or interval, not per request.

Every log record of the writers carries structured fields (``extra=``) whose
names start with ``batchput_``, so a JSON formatter or a filter can select them:

- ``batchput_event``: ``"dead_letters"`` (the summary), ``"request_failed"``,
  ``"request_dead_letters"``, ``"retry"``, ``"split"`` (per-request detail, DEBUG);
- ``batchput_service``: the botocore service name;
- ``batchput_count``: records concerned;
- ``batchput_counts``: for a summary, ``{"stage/code": records}``;
- ``batchput_example``: for a summary, one dead letter's stage, code, resource,
  attempts and message (never the record, which may hold data not meant for logs).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, Optional, Tuple

__all__ = ["DeadLetterLog", "log_fields"]

_MESSAGE_CHARS = 200


def log_fields(event: str, service: str, count: int, **more: Any) -> Dict[str, Any]:
    """The ``extra=`` mapping of a writer's log record."""
    fields = {"batchput_event": event, "batchput_service": service, "batchput_count": count}
    fields.update(("batchput_" + key, value) for key, value in more.items())
    return fields


class DeadLetterLog:
    """Counts dead letters by stage and code; logs them as one summary.

    ``note`` is called as dead letters are emitted; ``flush`` at the end of a
    bundle logs one WARNING if anything was counted and at least
    ``interval_seconds`` passed since the last summary (0: every bundle);
    otherwise the counts carry over to a later flush. ``flush(force=True)``
    (at teardown) logs whatever is left.

    Args:
        logger: Where the summary goes.
        service: The botocore service name.
        interval_seconds: Least time between two summaries.
        clock: Monotonic seconds; injected by tests.
    """

    def __init__(self, logger: logging.Logger, service: str, interval_seconds: float = 0.0,
                 clock: Optional[Callable[[], float]] = None) -> None:
        self._logger = logger
        self._service = service
        self._interval = interval_seconds
        self._clock = clock or time.monotonic
        self._last: Optional[float] = None
        self._counts: Dict[Tuple[str, str], int] = {}
        self._example: Optional[Dict[str, Any]] = None

    def note(self, stage: str, code: str, resource: str, attempts: int, message: str,
             count: int = 1) -> None:
        """Counts ``count`` dead letters of one stage and code."""
        key = (stage, code)
        self._counts[key] = self._counts.get(key, 0) + count
        if self._example is None:
            self._example = {"stage": stage, "code": code, "resource": resource,
                             "attempts": attempts, "message": message[:_MESSAGE_CHARS]}

    def flush(self, force: bool = False) -> None:
        """Logs the summary if anything is counted and the interval allows it."""
        if not self._counts:
            return
        now = self._clock()
        if not force and self._last is not None and now - self._last < self._interval:
            return
        counts = {"%s/%s" % key: n for key, n in sorted(self._counts.items())}
        total = sum(counts.values())
        example = self._example or {}
        self._logger.warning(
            "%s: %d records dead-lettered (%s); e.g. %s %s at %s after %d attempts: %s",
            self._service, total, ", ".join("%s %d" % item for item in counts.items()),
            example.get("stage"), example.get("code"), example.get("resource"),
            example.get("attempts", 0), example.get("message"),
            extra=log_fields("dead_letters", self._service, total, counts=counts,
                             example=example))
        self._counts, self._example, self._last = {}, None, now
