"""Every list of services is derived from the registry: a drifting copy fails here."""

import argparse
import json
import os
import re
import subprocess
import sys

import pytest

import beam_batchput
from beam_batchput import avro, registry, writers, yaml_transforms
from beam_batchput.emulator import resources
from beam_batchput.emulator.services import HANDLERS
from beam_batchput.registry import BOTOCORE_NAMES, SERVICES, SHORT_NAMES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_names_are_unique_and_short_names_are_the_canonical_ones():
    for names in (SHORT_NAMES, BOTOCORE_NAMES, [s.writer_name for s in SERVICES],
                  [s.schema for s in SERVICES], [s.yaml_name for s in SERVICES]):
        assert len(set(names)) == len(names) == len(SERVICES)
    for row in SERVICES:
        assert registry.spec(row.short_name) is registry.spec(row.botocore_name) is row
    with pytest.raises(ValueError, match="known: connect, datazone"):
        registry.spec("kinesiss")


def test_every_row_loads_a_service_a_writer_and_a_handler_that_agree():
    for row in SERVICES:
        service = registry.load(row.service)()
        assert service.name == row.botocore_name
        writer = registry.load(row.writer)
        assert writer.__name__ == row.writer_name
        assert isinstance(writer()._service, type(service))
        if row.emulator_handler:
            assert registry.load(row.emulator_handler).service == row.botocore_name


def test_package_exports_every_writer():
    for row in SERVICES:
        assert row.writer_name in beam_batchput.__all__
        assert getattr(beam_batchput, row.writer_name) is registry.load(row.writer)
    assert set(writers.__all__) >= {s.writer_name for s in SERVICES
                                    if s.writer.startswith("beam_batchput.writers:")}


def test_writers_and_schemas_follow_the_registry():
    assert list(writers.WRITERS) == list(BOTOCORE_NAMES)
    for row in SERVICES:
        info = writers.writer_info(row.short_name)
        assert (info.service, info.short_name, info.schema) == (
            row.botocore_name, row.short_name, row.schema)
    assert avro.SCHEMA_NAMES == ("dead_letter",) + tuple(s.schema for s in SERVICES)
    shipped = {name[:-len(".avsc")] for name in os.listdir(os.path.dirname(avro.__file__)
                                                            + "/schemas")}
    assert shipped == set(avro.SCHEMA_NAMES)


def test_yaml_factories_and_the_shipped_provider_file_follow_the_registry():
    for row in SERVICES:
        factory = getattr(yaml_transforms, row.yaml_factory)
        params = list(factory.__signature__.parameters)
        assert set(params) >= {s.name for s in row.yaml_settings}
        assert factory.__name__ == row.yaml_factory
    with open(yaml_transforms.PROVIDERS_FILE, encoding="utf-8") as handle:
        assert handle.read() == yaml_transforms.providers_yaml(), (
            "providers.yaml is stale: python -m beam_batchput.yaml_transforms")


def test_the_emulator_serves_the_services_with_handlers():
    with_handlers = tuple(s.botocore_name for s in SERVICES if s.emulator_handler)
    assert resources.SERVICES == with_handlers
    assert tuple(h.service for h in HANDLERS) == with_handlers


def test_the_pipelines_help_names_every_service():
    from pipelines.avro_to_service import AvroToServiceOptions

    parser = argparse.ArgumentParser()
    AvroToServiceOptions._add_argparse_args(parser)
    (action,) = [a for a in parser._actions if "--service" in a.option_strings]
    for name in SHORT_NAMES:
        assert re.search(r"\b%s\b" % name, action.help), name


def test_the_dataflow_template_allows_exactly_the_names_the_pipeline_accepts():
    path = os.path.join(ROOT, "templates", "dataflow", "avro_to_service.metadata.json")
    with open(path, encoding="utf-8") as handle:
        (param,) = [p for p in json.load(handle)["parameters"] if p["name"] == "service"]
    (pattern,) = param["regexes"]
    for name in SHORT_NAMES:
        assert re.fullmatch(pattern, name), name
    allowed = set(re.fullmatch(r"\^\((.*)\)\$", pattern).group(1).split("|"))
    # The short names, and the botocore names the pipelines keep accepting.
    assert allowed == set(SHORT_NAMES) | set(registry.BOTOCORE_NAMES)


def test_the_harness_and_the_benchmarks_cover_every_service():
    from benchmarks import run, workloads
    from tests.reliability import harness

    assert harness.SERVICES == tuple(s.botocore_name for s in SERVICES if s.emulator_handler)
    assert sorted(w.service for w in workloads.workloads()) == sorted(BOTOCORE_NAMES)
    assert set(run.FULL_FILL_RECORDS) == set(BOTOCORE_NAMES)


def test_a_service_module_and_the_registry_import_without_beam():
    code = ("import sys; import beam_batchput.registry, beam_batchput.services.sitewise, "
            "beam_batchput.core.sender, beam_batchput.core.records; "
            "sys.exit('apache_beam' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], timeout=60, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert done.returncode == 0, "importing them imported Beam"


def test_retry_tables_are_disjoint_and_classify_as_stated():
    for row in SERVICES:
        service = registry.load(row.service)()
        assert service.non_retryable_codes, row.short_name
        assert not service.retryable_codes & service.non_retryable_codes, row.short_name
        assert not any(service.is_retryable(code) for code in service.non_retryable_codes)
        assert all(service.is_retryable(code) for code in service.retryable_codes)
