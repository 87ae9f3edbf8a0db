"""A bug in a service module fails the pipeline; only deliberate refusals are dead letters."""

import time

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from beam_batchput import AwsBatchWrite
from beam_batchput.core.prepare import RECORD_ERRORS
from beam_batchput.core.service import InvalidRecord
from beam_batchput.services.sitewise import SiteWiseService
from tests import fakes
from tests.beam_helpers import pipeline

NOW = int(time.time())


class _BuggySiteWise(SiteWiseService):
    """SiteWise, with a bug for one alias and a deliberate refusal for another."""

    def item(self, record):
        if record["property_alias"] == "/bug":
            return {}["missing"]  # a KeyError: our own mistake, not the record's
        if record["property_alias"] == "/refused":
            raise InvalidRecord("RefusedForTest", "refused on purpose", "/refused")
        return super().item(record)


def _record(alias):
    return {"property_alias": alias, "value": 1.0, "timestamp": NOW - 60}


def _write(p, aliases, name):
    return (p | beam.Create([_record(a) for a in aliases])
            | AwsBatchWrite(_BuggySiteWise(),
                            client_factory=fakes.FakeClientFactory(name, fakes.accept_all)))


def test_only_invalid_record_is_a_record_error():
    assert RECORD_ERRORS == (InvalidRecord,)


def test_an_invalid_record_is_a_dead_letter_with_its_code_and_its_neighbours_are_written():
    fakes.reset("refused")
    with pipeline() as p:
        result = _write(p, ["/ok", "/refused"], "refused")
        assert_that(result.failed | beam.Map(lambda d: (d.error_code, d.stage, d.resource)),
                    equal_to([("RefusedForTest", "validation", "/refused")]), label="failed")
        assert_that(result.written | beam.Map(lambda r: r.resource), equal_to(["/ok"]),
                    label="written")


def test_a_key_error_in_a_service_module_fails_the_pipeline():
    fakes.reset("bug")
    with pytest.raises(Exception, match="missing"):
        with pipeline() as p:
            _write(p, ["/ok", "/bug"], "bug")
