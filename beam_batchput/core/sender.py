"""Sending one request: read its error list, retry what is retryable, settle the rest.

Knows no Beam, so it runs in worker threads and in unit tests alike; clock,
sleep and randomness are injected.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from botocore.exceptions import BotoCoreError, ClientError

from beam_batchput.core import prebuilt
from beam_batchput.core.backoff import ExponentialBackoff
from beam_batchput.core.clock import SYSTEM_CLOCK, Clock
from beam_batchput.core.config import RetryConfig
from beam_batchput.core.errors import RequestFailedError, classify
from beam_batchput.core.logs import log_fields
from beam_batchput.core.packing import pack
from beam_batchput.core.records import Stage
from beam_batchput.core.service import Item, Request, Service
from beam_batchput.core.verdict import (
    NOT_CONFIRMED_CODE,
    UNMATCHED_ERROR_CODE,
    ResponseVerdict,
    settle_response,
)

__all__ = ["NOT_CONFIRMED_CODE", "RequestSender", "ResponseVerdict", "SendOutcome", "Settled",
           "UNMATCHED_ERROR_CODE", "settle_response"]

_LOG = logging.getLogger(__name__)

# Codes the core itself gives; retried whatever the service's tables say, as
# the item may well be stored on the next attempt.
_CORE_RETRYABLE = frozenset({UNMATCHED_ERROR_CODE, NOT_CONFIRMED_CODE})


class Settled(NamedTuple):
    """An item whose fate is known.

    A NamedTuple, not a frozen dataclass: one is built per record sent, and a
    tuple builds in about a third of the time.
    """

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
    unmatched_errors: int = 0
    split_requests: int = 0
    collisions: int = 0
    throttled_requests: int = 0
    throttled_items: int = 0
    latencies: List[float] = dataclasses.field(default_factory=list)
    bytes_sent: int = 0


@dataclasses.dataclass
class _Held:
    """Items read back: held as sent, held with another value, or not held."""

    written: List[Item]
    other: List[Item]
    absent: List[Item]
    why: str
    #: Items a transient error kept from being read back: retried.
    unknown: List[Item] = dataclasses.field(default_factory=list)


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
                       self._service.name, len(retry_items), delay, attempt + 1,
                       extra=log_fields("retry", self._service.name, len(retry_items),
                                        attempt=attempt + 1, delay_seconds=delay))
            self._clock.sleep(delay)
            pending = pack(retry_items, self._service.limits, self._service.entry_id)
        return outcome

    def _send_once(self, client: Any, request: Request, attempt: int,
                   outcome: SendOutcome, attempts: Optional[Dict[int, int]] = None
                   ) -> List[Tuple[Item, str, str, bool]]:
        """One call; settles what it can and returns the items to retry.

        ``attempts`` (``id(item)`` → sends so far) numbers the items the
        response shows written; ``attempt`` numbers every other settled item.
        """
        service = self._service
        items = request.items
        outcome.requests += 1
        outcome.items_per_request.append(len(items))
        try:
            response = self._call(client, request)
        except (ClientError, BotoCoreError, TypeError, ValueError, OverflowError) as error:
            outcome.request_errors += 1
            info = classify(service, error)
            if info.retryable:
                return [(item, info.code, info.message, info.throttled) for item in items]
            if info.code in service.verify_codes:
                return self._settle_replayed(client, items, attempt, outcome, info.code,
                                             info.message)
            if len(items) > 1 and info.code in service.split_codes:
                # Implementation note: the request failed whole for its content;
                # halving it isolates the records the service refuses alone,
                # at about 2*log2(n) extra requests for one bad record in n.
                outcome.split_requests += 1
                _LOG.debug("%s: %s on %d records; splitting the request", service.name,
                           info.code, len(items),
                           extra=log_fields("split", service.name, len(items), code=info.code))
                return self._send_halves(client, items, attempt, outcome)
            resource = items[0].resource if items else ""
            if self._fail_fast:
                raise RequestFailedError(service.name, resource, info.code, info.message) from error
            # Per request at DEBUG: the send step logs one summary per bundle.
            _LOG.debug("%s %s to %s failed: %s: %s; dead-lettering %d records",
                       service.name, service.operation, resource, info.code, info.message,
                       len(items), extra=log_fields("request_failed", service.name, len(items),
                                                    code=info.code, resource=resource))
            outcome.failed.extend(
                Settled(item, attempt, info.code, info.message, Stage.REQUEST) for item in items)
            return []
        verdict = settle_response(service, request, response)
        outcome.unmatched_errors += verdict.unmatched_errors
        outcome.collisions += verdict.collisions
        if attempts is None:
            outcome.written.extend([Settled(item, attempt) for item in verdict.written])
        else:
            get = attempts.get
            outcome.written.extend([Settled(item, get(id(item), 1)) for item in verdict.written])
        to_retry: List[Tuple[Item, str, str, bool]] = []
        failed = verdict.failed
        if any(code in service.verify_codes for _, code, _ in failed):
            failed = self._drop_held(client, failed, attempt, outcome, to_retry)
        for item, code, message in failed:
            if code in _CORE_RETRYABLE or service.is_retryable(code):
                to_retry.append((item, code, message, service.is_throttling(code)))
            elif self._fail_fast and code in service.resource_error_codes:
                # Implementation note: an unknown input or property, or one the
                # caller may not write, is answered per entry by some services;
                # it is as fatal as a whole request refused for the same reason.
                raise RequestFailedError(service.name, item.resource, code, message)
            else:
                outcome.failed.append(Settled(item, attempt, code, message, Stage.ENTRY))
        return to_retry

    def _call(self, client: Any, request: Request) -> Any:
        """One client call for ``request``: its prebuilt body where the client takes one."""
        service = self._service
        if prebuilt.accepts(client):
            body = service.request_body(request.scope, request.entries)
            if body is not None:
                return prebuilt.call(client, service.method, service.operation,
                                     service.build_request(request.scope, []), body)
        return getattr(client, service.method)(**service.build_request(request.scope,
                                                                        request.entries))

    def _held(self, client: Any, items: List[Item]) -> "_Held":
        """What the service holds of ``items``, read back."""
        try:
            found = {id(item): exact for item, exact in self._service.held(client, items)}
        except (ClientError, BotoCoreError) as error:
            info = classify(self._service, error)
            why = ("reading the value back to tell a replay from a conflict failed: %s: %s"
                   % (info.code, info.message))
            if info.retryable:
                return _Held([], [], [], why, unknown=list(items))
            return _Held([], list(items), [], why)
        return _Held([item for item in items if found.get(id(item)) is True],
                     [item for item in items if found.get(id(item)) is False],
                     [item for item in items if id(item) not in found],
                     "read back: the service holds another value")

    def _drop_held(self, client: Any, failed: List[Tuple[Item, str, str]], attempt: int,
                   outcome: SendOutcome, to_retry: List[Tuple[Item, str, str, bool]]
                   ) -> List[Tuple[Item, str, str]]:
        """Settles the items refused as "already exists" from what the service holds.

        Held exactly as sent: written. Another value held: refused, the
        message saying so. Nothing held: sent again (``to_retry``), as a
        service may refuse a whole entry for one value it holds (TwinMaker's
        conflict at a time already written). Returns the refused items.
        """
        codes = self._service.verify_codes
        held = self._held(client, [item for item, code, _ in failed if code in codes])
        outcome.written.extend(Settled(item, attempt) for item in held.written)
        other = {id(item) for item in held.other}
        absent = {id(item) for item in held.absent + held.unknown}
        refused = []
        for item, code, message in failed:
            if id(item) in absent:
                to_retry.append((item, code, message, False))
            elif id(item) in other:
                refused.append((item, code, "%s (%s)" % (message, held.why)))
            elif code not in codes:
                refused.append((item, code, message))
        return refused

    def _settle_replayed(self, client: Any, items: List[Item], attempt: int,
                         outcome: SendOutcome, code: str,
                         message: str) -> List[Tuple[Item, str, str, bool]]:
        """Settles a request refused whole with an "already exists" kind of error.

        Implementation note: a replay after an ambiguous failure (a timeout
        after the service stored the request) may be refused this way. The
        values the service holds exactly as sent are written, those it holds
        otherwise are dead-lettered, and the rest, not stored by this request,
        are sent again without them; when nothing is held at all, the request
        is halved until the refused records stand alone.
        """
        held = self._held(client, items)
        if held.unknown:
            return [(item, code, "%s (%s)" % (message, held.why), False)
                    for item in held.unknown]
        outcome.written.extend(Settled(item, attempt) for item in held.written)
        outcome.failed.extend(Settled(item, attempt, code, "%s (%s)" % (message, held.why),
                                      Stage.REQUEST) for item in held.other)
        rest = held.absent
        if not rest:
            return []
        if len(rest) < len(items):
            to_retry: List[Tuple[Item, str, str, bool]] = []
            for request in pack(rest, self._service.limits, self._service.entry_id):
                to_retry.extend(self._send_once(client, request, attempt, outcome))
            return to_retry
        if len(rest) > 1:
            outcome.split_requests += 1
            return self._send_halves(client, rest, attempt, outcome)
        outcome.failed.append(Settled(rest[0], attempt, code, message, Stage.REQUEST))
        return []

    def _send_halves(self, client: Any, items: List[Item], attempt: int,
                     outcome: SendOutcome) -> List[Tuple[Item, str, str, bool]]:
        """Sends the two halves of a refused request; returns the items to retry."""
        half = len(items) // 2
        to_retry: List[Tuple[Item, str, str, bool]] = []
        for part in (items[:half], items[half:]):
            for request in pack(part, self._service.limits, self._service.entry_id):
                to_retry.extend(self._send_once(client, request, attempt, outcome))
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
        to_retry = self._send_once(client, request, 0, outcome, attempts)
        # Items settled other than by the response (read back, failed whole)
        # carry attempt 0 so far: number them too.
        for settled_list in (outcome.written, outcome.failed):
            if any(s.attempts == 0 for s in settled_list):
                settled_list[:] = [s._replace(attempts=attempts.get(id(s.item), 1))
                                   if s.attempts == 0 else s for s in settled_list]
        return outcome, to_retry
