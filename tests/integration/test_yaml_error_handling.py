"""Beam YAML's error_handling convention on the writers, against the emulator.

The inline provider (the installed package) is exercised here, in process; the
``packages:`` provider, which builds an environment from a wheel and expands
through Beam's Python expansion service, is in test_yaml_packages.py.
"""

from __future__ import annotations

import time

import pytest

# Dependencies of the test extra: missing, the module fails to import and says which.
from tests.extras import require_test_modules

require_test_modules("jinja2", "jsonschema", "docstring_parser")

import apache_beam as beam  # noqa: E402
from apache_beam.testing.util import assert_that, equal_to  # noqa: E402
from apache_beam.yaml.yaml_provider import load_providers  # noqa: E402
from apache_beam.yaml.yaml_transform import YamlTransform  # noqa: E402

from beam_batchput import yaml_transforms  # noqa: E402
from tests.beam_helpers import pipeline  # noqa: E402

NOW = int(time.time())
ALIASES = ["/yaml/t1/power", "/yaml/t2/power"]
FARM = {"iotsitewise": {"property_aliases": ALIASES}}


def readings_spec(endpoint_url: str, writer_config: str, consumers: str, outputs: str) -> str:
    """A composite: three good readings, one unknown property, one out of range."""
    return """
type: composite
transforms:
  - type: Create
    name: Readings
    config:
      elements:
        - {property_alias: /yaml/t1/power, value: 1.5, timestamp: %(now)d}
        - {property_alias: /yaml/t1/power, value: 2.5, timestamp: %(later)d}
        - {property_alias: /yaml/t2/power, value: 3.5, timestamp: %(now)d}
        - {property_alias: /yaml/t9/power, value: 4.5, timestamp: %(now)d}
        - {property_alias: /yaml/t2/power, value: 2.0e+11, timestamp: %(now)d}
  - type: WriteToSiteWise
    input: Readings
    config:
      region_name: us-east-1
      endpoint_url: "%(endpoint)s"
%(writer_config)s
%(consumers)s
%(outputs)s
""" % {"now": NOW - 60, "later": NOW - 30, "endpoint": endpoint_url,
       "writer_config": writer_config, "consumers": consumers, "outputs": outputs}


ERRORS_TO_CODES = """
  - type: MapToFields
    name: Stored
    input: WriteToSiteWise
    config:
      language: python
      fields: {resource: resource}
  - type: MapToFields
    name: Codes
    input: WriteToSiteWise.errors
    config:
      language: python
      fields: {resource: resource, code: error_code, stage: stage}
"""


def expand(spec: str, p: beam.Pipeline):
    return p | YamlTransform(spec, providers=load_providers(yaml_transforms.PROVIDERS_FILE))


def test_error_handling_output_carries_dead_letters_and_plain_name_is_the_receipts(
        emulator_factory, emulator_credentials):
    emulator = emulator_factory(config=FARM)
    spec = readings_spec(emulator.endpoint_url, "      error_handling: {output: errors}",
                         ERRORS_TO_CODES, "output: {stored: Stored, codes: Codes}")
    with pipeline() as p:
        outputs = expand(spec, p)
        assert_that(outputs["stored"] | beam.Map(lambda row: row.resource),
                    equal_to([ALIASES[0], ALIASES[0], ALIASES[1]]), label="CheckStored")
        assert_that(outputs["codes"] | beam.Map(lambda row: (row.resource, row.stage, row.code)),
                    equal_to([("/yaml/t9/power", "entry", "ResourceNotFoundException"),
                              (ALIASES[1], "validation", "ValueOutOfRange")]),
                    label="CheckCodes")
    values = emulator.snapshot()["iotsitewise"]["values"]
    assert sorted((alias, v["value"]["doubleValue"]) for alias in values for v in values[alias]) \
        == [(ALIASES[0], 1.5), (ALIASES[0], 2.5), (ALIASES[1], 3.5)]


def test_an_unconsumed_error_output_is_refused_as_beam_yaml_requires(emulator_credentials):
    consumers = """
  - type: MapToFields
    name: Stored
    input: WriteToSiteWise
    config:
      language: python
      fields: {resource: resource}
"""
    spec = readings_spec("http://127.0.0.1:9", "      error_handling: {output: errors}",
                         consumers, "output: {stored: Stored}")
    with pytest.raises(ValueError, match="Unconsumed error output.*WriteToSiteWise.errors"):
        expand(spec, pipeline())


def test_without_error_handling_outputs_stay_written_and_failed(
        emulator_factory, emulator_credentials):
    emulator = emulator_factory(config=FARM)
    consumers = (ERRORS_TO_CODES
                 .replace("input: WriteToSiteWise\n", "input: WriteToSiteWise.written\n")
                 .replace("WriteToSiteWise.errors", "WriteToSiteWise.failed"))
    spec = readings_spec(emulator.endpoint_url, "", consumers,
                         "output: {stored: Stored, codes: Codes}")
    with pipeline() as p:
        outputs = expand(spec, p)
        assert_that(outputs["codes"] | beam.Map(lambda row: row.code),
                    equal_to(["ResourceNotFoundException", "ValueOutOfRange"]))


def test_yaml_dead_letter_threshold_fails_the_run(emulator_factory, emulator_credentials):
    emulator = emulator_factory(config=FARM)
    spec = readings_spec(emulator.endpoint_url,
                         "      error_handling: {output: errors}\n"
                         "      dead_letter_threshold: 0.2", ERRORS_TO_CODES,
                         "output: {stored: Stored, codes: Codes}")
    p = pipeline()
    expand(spec, p)
    with pytest.raises(Exception, match=r"2 of 5 records dead-lettered"):
        p.run().wait_until_finish()


@pytest.mark.parametrize("error_handling,message", [
    ({"output": "written"}, "other than 'written'"),
    ({"output": ""}, "other than 'written'"),
    ({"output": "errors", "threshold": 0.1}, r"mapping \{output: NAME\}"),
    ("errors", r"mapping \{output: NAME\}"),
])
def test_bad_error_handling_is_refused_naming_the_setting(error_handling, message):
    with pytest.raises(ValueError, match=message):
        yaml_transforms.write_to_sitewise(error_handling=error_handling)
