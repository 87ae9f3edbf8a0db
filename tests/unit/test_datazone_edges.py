"""DataZone: a type revision with control characters, and settings errors naming the setting."""

import pytest

from beam_batchput.core.service import InvalidRecord
from beam_batchput.services.datazone import DataZoneService
from tests.unit.test_datazone import record


def test_a_type_revision_with_a_control_character_is_refused():
    with pytest.raises(InvalidRecord) as raised:
        DataZoneService().item(record(type_revision="3\n"))
    assert raised.value.code == "InvalidCharacters"


@pytest.mark.parametrize("setting", ["max_forms_per_request", "max_request_bytes"])
def test_a_setting_that_is_not_a_positive_int_is_named_in_the_error(setting):
    with pytest.raises(ValueError, match=setting):
        DataZoneService(**{setting: 0})


@pytest.mark.parametrize("text, seconds", [("2023-11-14T22:13:20.0006Z", 1_700_000_000.001),
                                           ("2023-11-14T22:13:20.0004Z", 1_700_000_000)])
def test_timestamps_are_rounded_to_the_nearest_millisecond(text, seconds):
    assert DataZoneService().item(record(timestamp=text)).payload["timestamp"] == seconds
