"""Throttling that botocore's own retries hide, and bytes sent: counted per call, per thread.

botocore's standard retry mode resends a throttled request by itself, after a
sleep of its own; the call then returns as if nothing happened. These event
handlers count the throttled attempts of each call and the time from each
throttled answer to the next attempt, so the writer's throttling counter and its
adaptive concurrency hear about them too.
"""

from __future__ import annotations

import threading
from typing import Any, Tuple

from beam_batchput.core.clock import SYSTEM_CLOCK, Clock

__all__ = ["ThrottleMeter", "take_retries_over"]

# Error codes botocore's standard mode treats as throttling, plus 429.
_THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException",
    "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
    "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
    "EC2ThrottledException"})


class ThrottleMeter:
    """Counts, per thread, throttled attempts inside botocore's calls.

    Args:
        clock: The clock (its monotonic time).
    """

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock.monotonic
        self._local = threading.local()

    def attach(self, client: Any) -> bool:
        """Registers on ``client``'s events; False for a client without them (a fake)."""
        events = getattr(getattr(client, "meta", None), "events", None)
        if events is None or not hasattr(events, "register"):
            return False
        events.register("needs-retry", self._on_answer)
        events.register("before-send", self._on_send)
        return True

    def take(self) -> Tuple[int, float, int]:
        """(throttled attempts, seconds waited after them, request body bytes sent) on
        this thread since the last take."""
        local = self._local
        counts = (getattr(local, "attempts", 0), getattr(local, "seconds", 0.0),
                  getattr(local, "bytes", 0))
        local.attempts, local.seconds, local.since, local.bytes = 0, 0.0, None, 0
        return counts

    def _on_answer(self, response: Any = None, attempts: int = 0, **kwargs: Any) -> None:
        # Implementation note: called for every answer, retried or not; the
        # writer settles the last one itself, so only the wait before a next
        # attempt (measured at its send) counts as time throttled.
        if not response or not isinstance(response, tuple) or len(response) < 2:
            return None
        http, parsed = response[0], response[1]
        code = (parsed or {}).get("Error", {}).get("Code") if isinstance(parsed, dict) else None
        if code in _THROTTLING_CODES or getattr(http, "status_code", None) == 429:
            local = self._local
            local.attempts = getattr(local, "attempts", 0) + 1
            local.since = self._clock()
        return None

    def _on_send(self, request: Any = None, **kwargs: Any) -> None:
        local = self._local
        body = getattr(request, "body", None)
        if isinstance(body, (bytes, bytearray, str)):
            local.bytes = getattr(local, "bytes", 0) + len(body)
        since = getattr(local, "since", None)
        if since is not None:
            local.seconds = getattr(local, "seconds", 0.0) + max(0.0, self._clock() - since)
            local.since = None
        return None


def take_retries_over(client: Any) -> bool:
    """Removes botocore's own retries from ``client``: each attempt is then the writer's.

    Implementation note: botocore resends a throttled request after a sleep of
    its own, outside any pacing, so a writer that has slowed down keeps
    hammering the service with those resends. With them gone, every attempt,
    throttled or not, goes through the writer's limiter and retry pool.
    botocore registers its retry handler (legacy, standard and adaptive modes
    alike) under the unique id ``retry-config-<service>``.

    Returns:
        Whether a botocore client was found (False for a fake client).
    """
    meta = getattr(client, "meta", None)
    events = getattr(meta, "events", None)
    model = getattr(meta, "service_model", None)
    if events is None or not hasattr(events, "unregister") or model is None:
        return False
    name = model.service_id.hyphenize()
    events.unregister("needs-retry.%s" % name, unique_id="retry-config-%s" % name)
    return True
