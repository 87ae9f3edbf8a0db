"""The writers as Beam YAML transforms: the shipped example against the emulator."""

from __future__ import annotations

import base64
import glob
import json
import os
import subprocess
import sys
import time

import pytest

# Beam YAML's own dependencies (the apache-beam[yaml] extra); WriteToJson needs pandas.
# Dependencies of the test extra: missing, the module fails to import and says which.
from tests.extras import require_test_modules

require_test_modules("jinja2", "jsonschema", "docstring_parser", "pandas")

from apache_beam.yaml.yaml_provider import InlineProvider, load_providers  # noqa: E402

from beam_batchput import yaml_transforms  # noqa: E402
from beam_batchput.writers import WRITERS  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "pipelines", "yaml", "wind_farm.yaml")
RUN_SECONDS = 90
NOW = int(time.time())

# The resources the example ships, which make its comments true.
FARM = os.path.join(ROOT, "pipelines", "yaml", "wind_farm_resources.json")


def read_json_lines(pattern: str) -> list:
    rows = []
    for path in sorted(glob.glob(pattern)):
        with open(path) as handle:
            rows.extend(json.loads(line) for line in handle if line.strip())
    return rows


def run_example(endpoint_url: str, output: str, runner_flags: list) -> None:
    """Runs the example with ``python -m apache_beam.yaml.main``; fails on a non-zero exit."""
    variables = {"endpoint_url": endpoint_url, "region_name": "us-east-1", "now": NOW,
                 "output": output}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    run = subprocess.run(
        [sys.executable, "-m", "apache_beam.yaml.main", "--yaml_pipeline_file=%s" % EXAMPLE,
         "--jinja_variables", json.dumps(variables)] + runner_flags,
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_SECONDS)
    assert run.returncode == 0, run.stderr[-5000:]


def assert_example_results(emulator, output: str) -> None:
    """What the example stores, refuses and receipts, read back."""
    values = emulator.snapshot()["iotsitewise"]["values"]
    assert {alias: [(v["timeInSeconds"], v["value"]["doubleValue"]) for v in points]
            for alias, points in values.items()} == {
        "/windfarm/north/t01/power_kw": [(NOW - 30, 1510.5), (NOW - 20, 1498.0),
                                         (NOW - 10, 1523.25)],
        "/windfarm/north/t02/power_kw": [(NOW - 30, 987.0), (NOW - 20, 1002.5)],
        "/windfarm/north/t02/wind_speed_ms": [(NOW - 20, 11.4)]}
    messages = emulator.snapshot()["iotevents-data"]["messages"]
    assert set(messages) == {"turbineAlarms"}
    assert sorted(json.loads(base64.b64decode(m["payload"]))["alarm"]
                  for m in messages["turbineAlarms"]) == ["overspeed", "vibration"]

    letters = read_json_lines(os.path.join(output, "dead_letters.json*"))
    assert sorted((d["service"], d["resource"], d["stage"], d["error_code"]) for d in letters) == [
        ("iotevents-data", "missingInput", "entry", "ResourceNotFoundException"),
        ("iotsitewise", "/windfarm/north/t01/power_kw", "validation", "ValueOutOfRange"),
        ("iotsitewise", "/windfarm/north/t99/power_kw", "entry", "ResourceNotFoundException")]
    refused = [json.loads(d["record"]) for d in letters if d["service"] == "iotsitewise"]
    assert sorted(r["value"] for r in refused) == [1.0, 2.0e11]
    receipts = read_json_lines(os.path.join(output, "receipts.json*"))
    assert sorted(r["service"] for r in receipts) == ["iotevents-data"] * 2 + ["iotsitewise"] * 6


def test_wind_farm_example_stores_readings_and_alarms_and_writes_dead_letters(
        emulator_factory, tmp_path, emulator_credentials):
    emulator = emulator_factory(config=FARM)
    output = str(tmp_path / "out")
    # An explicit runner: the DirectRunner would first try Prism, a download.
    run_example(emulator.endpoint_url, output, ["--runner=FnApiRunner"])
    assert_example_results(emulator, output)


def test_provider_file_declares_every_writer_under_its_class_name():
    providers = load_providers(yaml_transforms.PROVIDERS_FILE)
    declared = {name for provider in providers for name in provider.provided_transforms()}
    assert declared == {info.writer.__name__ for info in WRITERS.values()}


@pytest.mark.parametrize("factory,extra", [
    (yaml_transforms.write_to_sitewise, "enable_partial_entry_processing"),
    (yaml_transforms.write_to_datazone, "max_request_bytes"),
    (yaml_transforms.write_to_connect, "max_values_per_request"),
])
def test_config_schema_names_common_and_service_settings_with_descriptions(factory, extra):
    schema = InlineProvider.config_schema_from_callable(factory)
    fields = {field.name: field.description for field in schema.fields}
    for name in ("region_name", "endpoint_url", "max_in_flight", "max_attempts", extra):
        assert fields[name], name


def test_unknown_config_key_is_refused_naming_the_accepted_ones():
    with pytest.raises(ValueError, match="endpoint_urll.*takes region_name, endpoint_url"):
        yaml_transforms.write_to_sitewise(endpoint_urll="http://127.0.0.1:1")


def test_bad_config_value_is_refused_naming_the_setting():
    with pytest.raises(ValueError, match="max_attempts"):
        yaml_transforms.write_to_iotevents(max_attempts=0)


def test_templated_empty_endpoint_means_the_services_own_endpoint():
    # ClientConfig refuses endpoint_url="", which a jinja variable left empty gives.
    transform = yaml_transforms.write_to_twinmaker(region_name="eu-west-1", endpoint_url="")
    assert isinstance(transform, yaml_transforms.YamlWrite)
