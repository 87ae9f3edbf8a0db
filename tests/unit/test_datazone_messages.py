"""The reasons DataZone refusals give: each refused record's code, message and target,
word for word as a dead letter carries them."""

import pytest

from beam_batchput.services.datazone import DataZoneService
from tests.refusals import refusal

ENTITY = "dzd_abc/ASSET/asset1"
FORM = ENTITY + "/Metrics"


def _record(**fields):
    record = {"domain_id": "dzd_abc", "entity_type": "ASSET", "entity_id": "asset1",
              "form_name": "Metrics", "type_identifier": "amazon.datazone.Metric",
              "timestamp": 1_700_000_000}
    record.update(fields)
    return {k: v for k, v in record.items() if v is not ...}


_REFUSED = [
    (_record(domain_id="abc"), "InvalidPattern",
     "field 'domain_id'='abc' does not match dzd[-_][a-zA-Z0-9_-]{1,36}", ""),
    (_record(entity_type="TABLE"), "InvalidValue",
     "field 'entity_type'='TABLE' must be one of ASSET, LISTING", ""),
    (_record(entity_id="a b"), "InvalidPattern",
     "field 'entity_id'='a b' does not match [a-zA-Z0-9_-]{1,36}", ""),
    (_record(form_name=...), "MissingField", "field 'form_name' is required", ENTITY),
    (_record(form_name="f" * 129), "InvalidLength",
     "field 'form_name' has 129 characters, at most 128 allowed", ENTITY),
    (_record(form_name="a\nb"), "InvalidCharacters",
     "field 'form_name' contains control characters", ENTITY),
    (_record(type_identifier=".x"), "InvalidPattern",
     "field 'type_identifier'='.x' does not match (?!\\.)[\\w.]*\\w", FORM),
    (_record(type_identifier="t" * 386), "InvalidLength",
     "field 'type_identifier' has 386 characters, at most 385 allowed", FORM),
    (_record(type_revision="r" * 65), "InvalidLength",
     "field 'type_revision' has 65 characters, at most 64 allowed", FORM),
    (_record(type_revision="1\t"), "InvalidCharacters",
     "field 'type_revision' contains control characters", FORM),
    (_record(timestamp=300_000_000_000), "InvalidTimestamp",
     "timestamp 300000000000000 ms is outside the years 1-9999", FORM),
    (_record(timestamp=-63_000_000_000), "InvalidTimestamp",
     "timestamp -63000000000000 ms is outside the years 1-9999", FORM),
    (_record(timestamp=...), "MissingField", "field 'timestamp' is required", FORM),
    (_record(content="{not json"), "InvalidJson", "field 'content' is not JSON text", FORM),
    (_record(content=5), "InvalidType",
     "field 'content' must be JSON text, a dict or a list, got int", FORM),
    (_record(content='"%s"' % ("x" * 499_999)), "InvalidLength",
     "field 'content' has 500001 characters, at most 500000 allowed", FORM),
    (_record(content={"a": {1}}), "InvalidJson",
     "field 'content' cannot be JSON: Object of type set is not JSON serializable", FORM),
    (_record(content='"\ud800"'), "InvalidEncoding",
     "field 'content' is text that is not valid UTF-8 (it holds lone surrogates)", FORM),
    (_record(colour=1), "UnknownField",
     "unknown field(s) colour; expected some of content, domain_id, entity_id, entity_type, "
     "form_name, timestamp, type_identifier, type_revision", ""),
]


@pytest.mark.parametrize("record, code, message, resource", _REFUSED)
def test_each_refusal_names_its_field_limit_and_value(record, code, message, resource):
    assert refusal(DataZoneService(), record) == (code, message, resource)


def test_content_of_exactly_the_limit_is_sent_as_given():
    text = '"%s"' % ("x" * 499_998)
    assert DataZoneService().item(_record(content=text)).payload["content"] == text


@pytest.mark.parametrize("budget", [0, -1, True, 2.5])
def test_a_byte_budget_that_is_not_a_positive_integer_is_refused_with_its_value(budget):
    with pytest.raises(ValueError) as raised:
        DataZoneService(max_request_bytes=budget)
    assert str(raised.value) == (
        "max_request_bytes must be a positive integer or None, got %r" % (budget,))


@pytest.mark.parametrize("forms", [0, "10"])
def test_a_form_count_that_is_not_a_positive_integer_is_refused_with_its_value(forms):
    with pytest.raises(ValueError) as raised:
        DataZoneService(max_forms_per_request=forms)
    assert str(raised.value) == (
        "max_forms_per_request must be a positive integer, got %r" % (forms,))
