"""Sending one request: read its error list, retry what is retryable, settle the rest.

Knows no Beam, so it runs in worker threads and in unit tests alike; clock,
sleep and randomness are injected.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable, Dict, List, Optional, Tuple

from botocore.exceptions import BotoCoreError, ClientError

from beam_batchput.core.backoff import ExponentialBackoff
from beam_batchput.core.clock import SYSTEM_CLOCK, Clock
from beam_batchput.core.config import RetryConfig
from beam_batchput.core.errors import RequestFailedError, classify
from beam_batchput.core.packing import pack
from beam_batchput.core.records import Stage
from beam_batchput.core.service import Item, Request, Service

__all__ = ["RequestSender", "SendOutcome", "Settled"]

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Settled:
    """An item whose fate is known."""

    item: Item
    attempts: int
    code: str = ""
    message: str = ""
    stage: str = ""


@dataclasses.dataclass
class SendOutcome:
    """What sending one request (and its retries) came to."""

    written: List[Settled] = dataclasses.field(default_factory=list)
    failed: List[Settled] = dataclasses.field(default_factory=list)
    requests: int = 0
    items_per_request: List[int] = dataclasses.field(default_factory=list)
    retried_items: int = 0
    request_errors: int = 0
    throttled_seconds: float = 0.0
    throttled_requests: int = 0
    throttled_items: int = 0
    latencies: List[float] = dataclasses.field(default_factory=list)
    bytes_sent: int = 0


class RequestSender:
    """Sends requests of one service with retries under an attempt and time budget.

    Args:
        service: The service description.
        retry: Attempts, backoff and time budget.
        fail_fast: Raise :class:`RequestFailedError` on a non-transient
            whole-request error instead of dead-lettering the request, and on
            an entry refused because its resource is missing or denied.
        clock: The :class:`~beam_batchput.core.clock.Clock` of the retry
            budget and the backoff sleeps.
        random: Injected ``random.random`` for the jitter.
    """

    def __init__(self, service: Service, retry: RetryConfig, *, fail_fast: bool = False,
                 clock: Clock = SYSTEM_CLOCK,
                 random: Optional[Callable[[], float]] = None) -> None:
        self._service = service
        self._retry = retry
        self._fail_fast = fail_fast
        self._clock = clock
        self._backoff = ExponentialBackoff(
            retry.initial_backoff_seconds, retry.max_backoff_seconds, random=random)

    def send(self, client: Any, request: Request) -> SendOutcome:
        """Sends ``request``, retrying failed items, and settles every item."""
        outcome = SendOutcome()
        deadline = self._clock.monotonic() + self._retry.max_retry_seconds
        pending: List[Request] = [request]
        attempt = 0
        while pending:
            attempt += 1
            retry_items: List[Item] = []
            last_error: Dict[int, Tuple[str, str]] = {}
            throttled = False
            for current in pending:
                for item, code, message, is_throttling in self._send_once(
                        client, current, attempt, outcome):
                    retry_items.append(item)
                    last_error[id(item)] = (code, message)
                    throttled = throttled or is_throttling
            if not retry_items:
                break
            delay = self._backoff.delay(attempt)
            if attempt >= self._retry.max_attempts or self._clock.monotonic() + delay > deadline:
                for item in retry_items:
                    code, message = last_error[id(item)]
                    outcome.failed.append(
                        Settled(item, attempt, code, message, Stage.RETRIES_EXHAUSTED))
                break
            outcome.retried_items += len(retry_items)
            if throttled:
                outcome.throttled_seconds += delay
            _LOG.debug("%s: retrying %d items in %.3fs (attempt %d)",
                       self._service.name, len(retry_items), delay, attempt + 1)
            self._clock.sleep(delay)
            pending = pack(retry_items, self._service.limits, self._service.entry_id)
        return outcome

    def _send_once(self, client: Any, request: Request, attempt: int,
                   outcome: SendOutcome) -> List[Tuple[Item, str, str, bool]]:
        """One call; settles what it can and returns the items to retry."""
        service = self._service
        items = request.items
        kwargs = service.build_request(request.scope, request.entries)
        outcome.requests += 1
        outcome.items_per_request.append(len(items))
        try:
            response = getattr(client, service.method)(**kwargs)
        except (ClientError, BotoCoreError, TypeError, ValueError, OverflowError) as error:
            outcome.request_errors += 1
            info = classify(service, error)
            if info.retryable:
                return [(item, info.code, info.message, info.throttled) for item in items]
            resource = items[0].resource if items else ""
            if self._fail_fast:
                raise RequestFailedError(service.name, resource, info.code, info.message) from error
            _LOG.warning("%s %s to %s failed: %s: %s; dead-lettering %d records",
                         service.name, service.operation, resource, info.code, info.message,
                         len(items))
            outcome.failed.extend(
                Settled(item, attempt, info.code, info.message, Stage.REQUEST) for item in items)
            return []
        failures = {id(f.item): f for f in service.failures(request, response)}
        to_retry = []
        for item in items:
            failure = failures.get(id(item))
            if failure is None:
                outcome.written.append(Settled(item, attempt))
            elif service.is_retryable(failure.code):
                to_retry.append(
                    (item, failure.code, failure.message, service.is_throttling(failure.code)))
            elif self._fail_fast and failure.code in service.resource_error_codes:
                # Implementation note: an unknown input or property, or one the
                # caller may not write, is answered per entry by some services;
                # it is as fatal as a whole request refused for the same reason.
                raise RequestFailedError(service.name, item.resource, failure.code,
                                         failure.message)
            else:
                outcome.failed.append(
                    Settled(item, attempt, failure.code, failure.message, Stage.ENTRY))
        return to_retry

    def attempt(self, client: Any, request: Request, attempts: Dict[int, int]
                ) -> Tuple[SendOutcome, List[Tuple[Item, str, str, bool]]]:
        """Sends ``request`` once, without retrying or sleeping.

        Args:
            client: The boto3 client.
            request: The request (its items may be on different attempts).
            attempts: ``id(item)`` → the item's sends so far, this one included.

        Returns:
            ``(outcome, to_retry)``: the items this answer settles, and
            ``(item, code, message, throttled)`` for each retryable failure.
        """
        outcome = SendOutcome()
        to_retry = self._send_once(client, request, 0, outcome)
        for settled_list in (outcome.written, outcome.failed):
            settled_list[:] = [dataclasses.replace(s, attempts=attempts.get(id(s.item), 1))
                               for s in settled_list]
        return outcome, to_retry
