"""What a user reads in the dead letter of a refused record: its code, message and target."""

from typing import Any, Mapping, Tuple

import pytest

from beam_batchput.core.service import InvalidRecord, Service


def refusal(service: Service, record: Mapping[str, Any]) -> Tuple[str, str, str]:
    """(code, message, resource) of the InvalidRecord ``service.item(record)`` raises."""
    with pytest.raises(InvalidRecord) as raised:
        service.item(record)
    return raised.value.code, raised.value.message, raised.value.resource
