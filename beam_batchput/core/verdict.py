"""What one response proves written: the one rule every service's answers go through.

A service module reads its response into :class:`~beam_batchput.core.service.Failure`
and :class:`~beam_batchput.core.service.Unmatched` values (and a success list,
where its API has one); :func:`settle_response` decides from those, for every
item of the request, whether it is written. Knows no Beam and no service.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Mapping, Tuple

from beam_batchput.core.service import Failure, Item, Request, Service, Unmatched

__all__ = ["NOT_CONFIRMED_CODE", "ResponseVerdict", "UNMATCHED_ERROR_CODE", "settle_response"]

#: The code of an item an error of the response could refer to, though the
#: writer could not place the error on it: not written, retried, then
#: dead-lettered with this code.
UNMATCHED_ERROR_CODE = "UnmatchedError"
#: The code of an item a service with a success list did not confirm, while no
#: error named it: not written, retried, then dead-lettered with this code.
NOT_CONFIRMED_CODE = "NotConfirmed"


@dataclasses.dataclass
class ResponseVerdict:
    """What one response says of each item of its request.

    Attributes:
        written: Items the response shows as stored.
        failed: ``(item, code, message)`` of every other item, each once.
        unmatched_errors: Errors of the response the service could not place.
        collisions: Items refused because another item of the request has
            their identity in the service.
    """

    written: List[Item] = dataclasses.field(default_factory=list)
    failed: List[Tuple[Item, str, str]] = dataclasses.field(default_factory=list)
    unmatched_errors: int = 0
    collisions: int = 0


def settle_response(service: Service, request: Request,
                    response: Mapping[str, Any]) -> ResponseVerdict:
    """Decides, for every item of ``request``, whether ``response`` shows it stored.

    The one rule for every service: an item is written only when no error
    names it and, where the service has a success list, the list confirms it;
    an error that names no item the service could place (:class:`Unmatched`)
    fails every item it could refer to. An item named by several errors takes
    a non-retryable one over a retryable one, and a placed one over an
    unplaced one.
    """
    named: Dict[int, Tuple[str, str]] = {}
    unplaced: Dict[int, Tuple[str, str]] = {}
    verdict = ResponseVerdict()
    for outcome in service.failures(request, response):
        if isinstance(outcome, Unmatched):
            verdict.unmatched_errors += 1
            text = ("the response holds an error the writer could not place on one record "
                    "(%s: %s); it could refer to this one" % (outcome.code, outcome.message))
            for item in outcome.candidates:
                unplaced.setdefault(id(item), (UNMATCHED_ERROR_CODE, text))
        elif isinstance(outcome, Failure):
            key = id(outcome.item)
            if key not in named or (service.is_retryable(named[key][0])
                                    and not service.is_retryable(outcome.code)):
                named[key] = (outcome.code, outcome.message)
        else:
            raise TypeError("%s.failures yielded %r, not a Failure or Unmatched"
                            % (type(service).__name__, outcome))
    confirmed = None
    if service.has_success_list:
        confirmed = {id(item) for item in service.confirmed(request, response)}
    for item in request.items:
        key = id(item)
        if key in named:
            code, message = named[key]
        elif confirmed is not None and key in confirmed:
            # A success list's confirmation outweighs an error it could not place.
            verdict.written.append(item)
            continue
        elif key in unplaced:
            code, message = unplaced[key]
        elif confirmed is not None:
            code, message = NOT_CONFIRMED_CODE, (
                "the response's success list does not confirm this record, and no error "
                "names it")
        else:
            verdict.written.append(item)
            continue
        if code in service.collision_codes:
            verdict.collisions += 1
        verdict.failed.append((item, code, message))
    return verdict
