"""The writers through Beam's Python expansion service, as Java, Go or YAML use them.

A pipeline names ``beam_batchput.WriteToSiteWise`` by its fully qualified name
(``beam:transforms:python:fully_qualified_named``), an expansion service started
by the test expands it, and its steps run on EXTERNAL workers from a worker
pool, as on Flink. Both outputs, ``written`` and ``failed``, come back by name.
The Java pipeline doing the same on the Flink job server is in ``java/``, run by
the engine tier (``tests/runners/test_java_pipeline.py``).
"""

from __future__ import annotations

import time
from typing import Iterator

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.external import ExternalTransform, ImplicitSchemaPayloadBuilder

from tests.integration.test_portability import (  # noqa: F401 # fixtures
    _beam_service,
    expansion_service_port,
    run_to_completion,
    worker_env,
    worker_pool,
)

NOW = int(time.time())
ALIASES = ["/xlang/t1/power", "/xlang/t2/power"]
URN = "beam:transforms:python:fully_qualified_named"


@pytest.fixture(scope="module")
def expansion_service(worker_env, worker_pool, tmp_path_factory) -> Iterator[str]:
    """Beam's Python expansion service allowing ``beam_batchput.*``, its transforms
    running on the worker pool, on a port from the OS."""
    folder = tmp_path_factory.mktemp("expansion_service")
    log = str(folder / "expansion_service.log")
    with _beam_service("tests.integration.loopback_expansion_service", [
            "--port", "0", "--fully_qualified_name_glob=beam_batchput.*",
            "--environment_type=EXTERNAL", "--environment_config=%s" % worker_pool],
            expansion_service_port(log), log) as address:
        yield address


def fully_qualified(name: str, address: str, **kwargs) -> ExternalTransform:
    return ExternalTransform(URN, ImplicitSchemaPayloadBuilder(
        {"constructor": name, "kwargs": kwargs}), expansion_service=address)


def test_write_to_sitewise_by_fully_qualified_name_stores_and_returns_both_outputs(
        expansion_service, emulator_factory):
    emulator = emulator_factory(config={"iotsitewise": {"property_aliases": ALIASES}})
    rows = [beam.Row(property_alias=alias, value=float(n), timestamp=NOW - 100 + n)
            for alias in ALIASES for n in range(5)]
    rows.append(beam.Row(property_alias="/xlang/t9/power", value=1.0, timestamp=NOW))
    p = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    outputs = (p | beam.Create(rows)
               | fully_qualified("beam_batchput.WriteToSiteWise", expansion_service,
                                 region_name="us-east-1", endpoint_url=emulator.endpoint_url,
                                 max_buffering_seconds=1.0))
    assert sorted(outputs) == ["failed", "written"]
    assert_that(outputs["written"] | "Resources" >> beam.Map(lambda r: r.resource)
                | beam.combiners.Count.PerElement(),
                equal_to([(ALIASES[0], 5), (ALIASES[1], 5)]), label="CheckWritten")
    assert_that(outputs["failed"] | "Codes" >> beam.Map(lambda d: (d.resource, d.error_code)),
                equal_to([("/xlang/t9/power", "ResourceNotFoundException")]),
                label="CheckFailed")
    run_to_completion(p)
    values = emulator.snapshot()["iotsitewise"]["values"]
    assert {alias: sorted(v["value"]["doubleValue"] for v in values[alias]) for alias in values} \
        == {alias: [float(n) for n in range(5)] for alias in ALIASES}


def test_names_outside_the_allowed_glob_are_refused_by_the_service(expansion_service):
    p = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    with pytest.raises(RuntimeError,
                       match=r"apache_beam.io.WriteToText.* not allowed by filter beam_batchput"):
        _ = (p | beam.Create([beam.Row(line="x")])
             | fully_qualified("apache_beam.io.WriteToText", expansion_service,
                               file_path_prefix="/tmp/refused"))
