"""The package installed from a wheel runs its pipelines from any directory.

A wheel is built from this checkout and installed, without dependencies, into a
virtualenv that sees the test environment's packages after its own (Beam,
boto3; the checkout itself is not on its path); the console
entry points then run from a directory outside the checkout, with no
``PYTHONPATH``, against the emulator.
"""

from __future__ import annotations

import datetime
import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import venv

import fastavro
import pytest

from beam_batchput.avro import load_schema
from beam_batchput.emulator import Emulator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEP_SECONDS = 300


def _run(argv, **kwargs):
    run = subprocess.run(argv, capture_output=True, text=True, timeout=STEP_SECONDS, **kwargs)
    assert run.returncode == 0, (argv, run.stdout[-3000:], run.stderr[-3000:])
    return run


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(bin directory, environment) of a virtualenv holding the built wheel."""
    base = tmp_path_factory.mktemp("install")
    # Built from a copy of what a source distribution holds, so the checkout stays clean.
    source = base / "source"
    shutil.copytree(os.path.join(ROOT, "beam_batchput"), str(source / "beam_batchput"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("setup.py", "README.md"):
        shutil.copy(os.path.join(ROOT, name), str(source / name))
    wheels = base / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
          "--wheel-dir", str(wheels), str(source)], cwd=str(base))
    built = glob.glob(str(wheels / "beam_batchput-*.whl"))
    assert len(built) == 1, built
    env_dir = base / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(str(env_dir))
    python = str(env_dir / "bin" / "python")
    # The new environment sees this one's packages (Beam, boto3...) after its own.
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                   env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}).stdout.strip()
    with open(os.path.join(purelib, "test-environment.pth"), "w") as pth:
        pth.write(sysconfig.get_paths()["purelib"] + "\n")
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps",
          "--no-index", built[0]], cwd=str(base), env=environ)
    return str(env_dir / "bin"), environ


def test_the_installed_package_is_the_one_imported(installed, tmp_path):
    bin_dir, environ = installed
    run = _run([os.path.join(bin_dir, "python"), "-c",
                "import beam_batchput.pipelines.avro_to_service as m; print(m.__file__)"],
               cwd=str(tmp_path), env=environ)
    assert run.stdout.strip().startswith(os.path.dirname(bin_dir)), run.stdout


def test_entry_points_run_the_pipelines_outside_the_checkout(installed, tmp_path):
    bin_dir, environ = installed
    now = datetime.datetime.now(datetime.timezone.utc)
    with open(tmp_path / "in.avro", "wb") as out:
        fastavro.writer(out, load_schema("sitewise_record"), [
            {"property_alias": "/farm/t%d/power" % t, "value": 1.5, "timestamp": now}
            for t in (1, 2)])
    with Emulator(config={"sitewise": {"property_aliases": ["/farm/t1/power"]}}) as emulator:
        env = dict(environ, **emulator.environ())
        env.pop("AWS_ENDPOINT_URL")
        run = subprocess.run(
            [os.path.join(bin_dir, "beam-batchput-avro-to-service"), "--avro_input", "in.avro",
             "--service", "sitewise", "--dead_letter_output", "dlq",
             "--endpoint_url", emulator.endpoint_url, "--runner", "FnApiRunner"],
            cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=STEP_SECONDS)
        stored = emulator.snapshot()["iotsitewise"]["values"]
    assert run.returncode == 0, run.stderr[-3000:]
    assert "records written: 1, refused (dead-lettered): 1" in run.stdout, run.stdout
    assert list(stored) == ["/farm/t1/power"]
    assert glob.glob(str(tmp_path / "dlq" / "*.avro"))
    for command in ("beam-batchput-redrive", "beam-batchput-demo", "beam-batchput-emulator"):
        assert os.access(os.path.join(bin_dir, command), os.X_OK), command
    helped = _run([os.path.join(bin_dir, "beam-batchput-redrive"), "--help"],
                  cwd=str(tmp_path), env=environ)
    assert "--error_codes" in helped.stdout and "--region_name" in helped.stdout
