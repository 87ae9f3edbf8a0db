"""Beam YAML's ``packages:`` provider with a wheel built from this checkout.

Beam builds a virtual environment holding the wheel, starts its Python
expansion service there (``--fully_qualified_name_glob=*``, a loopback worker)
and expands the writer through it; the pipeline's writer steps run in that
process, importing the wheel, not this checkout.

Implementation note: Beam clones that environment from one it first fills
with ``apache_beam[dataframe,gcp,test,yaml]`` from PyPI (minutes, hundreds of
MB). The test hands Beam, as the environment to clone, one that sees this
interpreter's installed packages minus beam-batchput; everything after that
(the clone, ``pip install`` of the wheel, the service, the expansion, the run)
is Beam's own path. ``BEAM_BATCHPUT_YAML_PACKAGES_FROM_PYPI=1`` lets Beam build
its environment from PyPI instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import time

import pytest

# Dependencies of the test extra: missing, the module fails to import and says which.
from tests.extras import require_test_modules

require_test_modules("jinja2", "jsonschema", "docstring_parser", "clonevirtualenv", "wheel")

import apache_beam as beam  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402
from apache_beam.testing.util import assert_that, equal_to  # noqa: E402
from apache_beam.utils.subprocess_server import SubprocessServer  # noqa: E402
from apache_beam.yaml import yaml_provider  # noqa: E402
from apache_beam.yaml.yaml_transform import YamlTransform  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOW = int(time.time())
ALIASES = ["/pkg/t1/power", "/pkg/t2/power"]
BUILD_SECONDS = 180


def _children(pid: int) -> set:
    found = set()
    for task in glob.glob("/proc/%d/task/*/children" % pid):
        with open(task) as handle:
            found.update(int(p) for p in handle.read().split())
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> str:
    """A wheel built from a copy of this checkout's sources (the checkout stays clean)."""
    folder = tmp_path_factory.mktemp("wheel")
    source = folder / "src"
    source.mkdir()
    for name in ("setup.py", "README.md"):
        shutil.copy(os.path.join(ROOT, name), source / name)
    shutil.copytree(os.path.join(ROOT, "beam_batchput"), source / "beam_batchput",
                    ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(folder / "dist"), str(source)],
                   check=True, timeout=BUILD_SECONDS, capture_output=True)
    (built,) = glob.glob(str(folder / "dist" / "beam_batchput-*.whl"))
    return built


@pytest.fixture(scope="module")
def clone_source(tmp_path_factory) -> str:
    """A virtual environment seeing this interpreter's packages but not beam-batchput."""
    folder = tmp_path_factory.mktemp("base_env")
    visible = folder / "site"
    visible.mkdir()
    site_packages = sysconfig.get_paths()["purelib"]
    for name in os.listdir(site_packages):
        if name.lower().replace("-", "_").startswith(("beam_batchput", "__editable__")):
            continue
        os.symlink(os.path.join(site_packages, name), visible / name)
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                   timeout=BUILD_SECONDS, capture_output=True)
    (venv_site,) = glob.glob(str(venv / "lib" / "python*" / "site-packages"))
    with open(os.path.join(venv_site, "_beam_batchput_test_base.pth"), "w") as pth:
        pth.write(str(visible) + "\n")
    return str(venv)


@pytest.fixture
def beam_venvs(clone_source, tmp_path, monkeypatch):
    """Beam's venv cache in a temporary folder; the base environment as above."""
    monkeypatch.setattr(yaml_provider.PypiExpansionService, "VENV_CACHE", str(tmp_path / "venvs"))
    if os.environ.get("BEAM_BATCHPUT_YAML_PACKAGES_FROM_PYPI") != "1":
        monkeypatch.setattr(yaml_provider.PypiExpansionService, "_create_venv_to_clone",
                            classmethod(lambda cls, base_python: clone_source))
    # The expansion service and its worker must import the wheel, not this
    # checkout: neither PYTHONPATH nor the working folder may lead to it.
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "venvs"


def test_packages_provider_expands_the_wheel_through_the_expansion_service_and_writes(
        wheel, beam_venvs, emulator_factory, emulator_credentials):
    emulator = emulator_factory(config={"iotsitewise": {"property_aliases": ALIASES}})
    spec = """
type: composite
transforms:
  - type: Create
    name: Readings
    config:
      elements:
        - {property_alias: /pkg/t1/power, value: 1.5, timestamp: %(now)d}
        - {property_alias: /pkg/t2/power, value: 2.5, timestamp: %(now)d}
        - {property_alias: /pkg/t9/power, value: 3.5, timestamp: %(now)d}
  - type: WriteToSiteWise
    input: Readings
    config:
      region_name: us-east-1
      endpoint_url: "%(endpoint)s"
      error_handling: {output: errors}
  - type: MapToFields
    name: Stored
    input: WriteToSiteWise
    config: {language: python, fields: {resource: resource, service: service}}
  - type: MapToFields
    name: Codes
    input: WriteToSiteWise.errors
    config: {language: python, fields: {resource: resource, code: error_code}}
output: {stored: Stored, codes: Codes}
""" % {"now": NOW - 60, "endpoint": emulator.endpoint_url}
    providers = list(yaml_provider.parse_providers("", [{
        "type": "python", "config": {"packages": [wheel]},
        "transforms": {"WriteToSiteWise": "beam_batchput.yaml_transforms.write_to_sitewise"}}]))
    before = _children(os.getpid())
    with SubprocessServer.cache_subprocesses():
        p = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
        outputs = p | YamlTransform(spec, providers=providers)
        assert_that(outputs["stored"] | "StoredTuples" >> beam.Map(tuple),
                    equal_to([(ALIASES[0], "iotsitewise"), (ALIASES[1], "iotsitewise")]),
                    label="CheckStored")
        assert_that(outputs["codes"] | "CodeTuples" >> beam.Map(tuple),
                    equal_to([("/pkg/t9/power", "ResourceNotFoundException")]),
                    label="CheckCodes")
        p.run().wait_until_finish()
    # The expansion service ran in an environment Beam built, holding the wheel.
    (venv,) = [path for path in glob.glob(str(beam_venvs / "*")) if os.path.isdir(path)]
    installed = subprocess.run(
        [os.path.join(venv, "bin", "python"), "-c",
         "import beam_batchput, os; print(os.path.dirname(beam_batchput.__file__))"],
        check=True, capture_output=True, text=True, timeout=60, cwd=str(beam_venvs),
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}).stdout.strip()
    assert installed.startswith(venv) and not installed.startswith(ROOT)
    values = emulator.snapshot()["iotsitewise"]["values"]
    assert sorted((alias, v["value"]["doubleValue"]) for alias in values for v in values[alias]) \
        == [(ALIASES[0], 1.5), (ALIASES[1], 2.5)]
    assert _children(os.getpid()) <= before, "the expansion service outlived the test"
