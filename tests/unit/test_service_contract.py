"""The service description's own checks: limits validated at construction, naming the setting,
and a refusal without a known target naming none."""

import pytest

from beam_batchput.core.service import InvalidRecord, Limits


@pytest.mark.parametrize("setting", ["max_entries", "max_values_per_entry",
                                     "default_buffered_records", "max_request_bytes"])
@pytest.mark.parametrize("value", [0, -1])
def test_limits_refuse_a_count_that_is_not_positive_naming_it(setting, value):
    settings = {"max_entries": 10, setting: value}
    with pytest.raises(ValueError, match=setting):
        Limits(**settings)


def test_limits_take_no_byte_bound():
    assert Limits(max_entries=10, max_request_bytes=None).max_request_bytes is None


def test_a_refusal_before_the_target_is_known_names_no_resource():
    refused = InvalidRecord("MissingField", "field 'x' is required")
    assert (refused.code, refused.message, refused.resource) == (
        "MissingField", "field 'x' is required", "")
    assert str(refused) == "MissingField: field 'x' is required"
