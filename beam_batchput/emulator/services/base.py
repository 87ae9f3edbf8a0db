"""What every emulated service shares: state, resources, errors, faults, paging."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple

from beam_batchput.core.clock import Clock
from beam_batchput.emulator.errors import ServiceError, ServiceErrors
from beam_batchput.emulator.faults import FaultInjector
from beam_batchput.emulator.store import Store

__all__ = ["ServiceHandler", "paginate"]


class ServiceHandler:
    """Serves the operations of one service.

    Subclasses name the service, its error codes and its operations (operation
    name → method name), and say whether the service answers per entry. Each
    method takes the validated input and the service's fault injector and returns
    the response body, or raises :class:`ServiceError`.

    Args:
        section: The service's section of the resources file; None declares nothing,
            so every resource exists.
        store: Where the state lives.
        clock: The :class:`~beam_batchput.core.clock.Clock` (wall time).
    """

    service: ClassVar[str]
    errors: ClassVar[ServiceErrors]
    operations: ClassVar[Mapping[str, str]]
    has_entry_errors: ClassVar[bool] = True

    def __init__(self, section: Optional[Mapping[str, Any]], store: Store,
                 clock: Clock) -> None:
        self.declared = section is not None
        self.store = store
        self.clock = clock
        self.load_resources(section or {})

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
