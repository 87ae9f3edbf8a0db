"""What every emulated service shares: state, resources, errors, faults, paging."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple

from beam_batchput.core.clock import Clock
from beam_batchput.emulator.errors import ServiceError, ServiceErrors
from beam_batchput.emulator.faults import FaultInjector
from beam_batchput.emulator.store import Store

__all__ = ["REPLAY_ANSWER_KEY", "ServiceHandler", "paginate"]

#: The key of a resources section that picks the service's replay answer.
REPLAY_ANSWER_KEY = "replay_answer"


class ServiceHandler:
    """Serves the operations of one service.

    Subclasses name the service, its error codes and its operations (operation
    name → method name), and say whether the service answers per entry. Each
    method takes the validated input and the service's fault injector and returns
    the response body, or raises :class:`ServiceError`.

    A service whose answer to a write of a value it already holds is not
    documented lists the possible answers in ``replay_answers`` (the first is
    the default); the section's ``replay_answer`` key or the constructor's
    argument picks one.

    Args:
        section: The service's section of the resources file; None declares nothing,
            so every resource exists. A section holding only ``replay_answer``
            declares nothing either.
        store: Where the state lives.
        clock: The :class:`~beam_batchput.core.clock.Clock` (wall time).
        replay_answer: One of ``replay_answers``, over the section's.

    Raises:
        ValueError: On a replay answer the service does not know.
    """

    service: ClassVar[str]
    errors: ClassVar[ServiceErrors]
    operations: ClassVar[Mapping[str, str]]
    has_entry_errors: ClassVar[bool] = True
    replay_answers: ClassVar[Tuple[str, ...]] = ()

    def __init__(self, section: Optional[Mapping[str, Any]], store: Store,
                 clock: Clock, replay_answer: Optional[str] = None) -> None:
        resources = dict(section) if section is not None else None
        configured = resources.pop(REPLAY_ANSWER_KEY, None) if resources is not None else None
        answer = replay_answer if replay_answer is not None else configured
        if answer is not None and answer not in self.replay_answers:
            raise ValueError("%s replay_answer must be one of %s, got %r"
                             % (self.service, ", ".join(self.replay_answers) or "(none)",
                                answer))
        self.replay_answer = answer or (self.replay_answers[0] if self.replay_answers else "")
        if resources is not None and not resources and configured is not None:
            resources = None
        self.declared = resources is not None
        self.store = store
        self.clock = clock
        self.load_resources(resources or {})

    def load_resources(self, section: Mapping[str, Any]) -> None:
        """Reads the service's resources section (only called; may be empty)."""

    def handle(self, operation: str, params: Dict[str, Any],
               faults: FaultInjector) -> Dict[str, Any]:
        """Runs ``operation`` and returns the response body."""
        return getattr(self, self.operations[operation])(params, faults)

    def error(self, kind: str, message: str, **fields: Any) -> ServiceError:
        """A whole-request error of a kind named in :class:`ServiceErrors`."""
        return ServiceError(getattr(self.errors, kind), message, fields)

    def open(self):
        """The lock-holding (public, private) state of this service."""
        return self.store.open(self.service)


def paginate(items: Sequence[Any], max_results: Optional[int], token: Optional[str],
             default: int) -> Tuple[List[Any], Optional[str]]:
    """One page of ``items`` and the token of the next page (None at the end).

    Raises:
        ValueError: On a token this function did not hand out.
    """
    start = 0
    if token:
        if not token.isdigit():
            raise ValueError("invalid nextToken %r" % token)
        start = int(token)
    size = max_results or default
    page = list(items[start:start + size])
    return page, (str(start + size) if start + size < len(items) else None)
