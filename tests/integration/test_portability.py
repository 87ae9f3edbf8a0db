"""The writers and a pipeline on out-of-process runners, read back from the emulator.

Runners: the DirectRunner in multi-processing mode (SDK workers in subprocesses),
and ``PortableRunner`` against Beam's local job service with LOOPBACK workers
(in this process) and EXTERNAL workers from a worker pool, as Flink runs them.
Services and workers listen on loopback; every subprocess is killed at teardown.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import json
import os
import re
import subprocess
import sys
import time
from typing import Callable, Iterator, List, Optional

import apache_beam as beam
import fastavro
import grpc
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineState
from apache_beam.testing.util import BeamAssertException, assert_that, equal_to

from beam_batchput import WriteToIoTEvents, WriteToSiteWise
from beam_batchput.avro import load_schema
from pipelines import avro_to_service
from tests.conftest import set_worker_environment, stop_process_group

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOW = int(time.time())
READY_SECONDS = 30.0
RUN_SECONDS = 60.0

ALIASES = ["/portable/t%d/power" % t for t in range(3)]
INPUT = "turbineAlarms"
EMULATOR_CONFIG = {"iotsitewise": {"property_aliases": ALIASES},
                   "iotevents-data": {"inputs": [INPUT]}}


@pytest.fixture(scope="module")
def worker_env() -> Iterator[None]:
    """The workers' environment (:func:`tests.conftest.set_worker_environment`)."""
    with pytest.MonkeyPatch.context() as patch:
        set_worker_environment(patch)
        yield


def _log_tail(path: str) -> str:
    with open(path, errors="replace") as handle:
        return handle.read()[-3000:]


def _port_in_file(path: str) -> Callable[[], Optional[int]]:
    """Reads the port a service wrote to ``path`` (written whole, by rename)."""
    def port() -> Optional[int]:
        with contextlib.suppress(FileNotFoundError, ValueError):
            with open(path) as handle:
                return int(handle.read())
        return None
    return port


def _port_in_log(path: str, pattern: str) -> Callable[[], Optional[int]]:
    """Finds the port a service logged, by ``pattern`` (one group: the port)."""
    def port() -> Optional[int]:
        found = re.search(pattern, _log_tail(path))
        return int(found.group(1)) if found else None
    return port


@contextlib.contextmanager
def _beam_service(module: str, args: List[str],
                  bound_port: Callable[[], Optional[int]],
                  log_path: str) -> Iterator[str]:
    """Runs ``python -m module args`` in a session of its own until the block ends;
    the service binds port 0 and says which port it got (``bound_port`` reads it);
    yields its address once that port accepts gRPC connections."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", module] + args, cwd=ROOT,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + READY_SECONDS

        def check_alive(what: str) -> None:
            if process.poll() is not None:
                pytest.fail("%s exited with %s:\n%s" % (module, process.returncode,
                                                        _log_tail(log_path)))
            if time.monotonic() > deadline:
                pytest.fail("%s not %s after %.0f s:\n%s" % (
                    module, what, READY_SECONDS, _log_tail(log_path)))

        port = bound_port()
        while port is None:
            check_alive("bound")
            time.sleep(0.1)
            port = bound_port()
        address = "127.0.0.1:%d" % port
        with grpc.insecure_channel(address) as channel:
            while True:
                check_alive("ready on %s" % address)
                try:
                    grpc.channel_ready_future(channel).result(timeout=0.5)
                    break
                except grpc.FutureTimeoutError:
                    pass
        yield address
    finally:
        # The group holds the service and the workers it started.
        stop_process_group(process, 5, 5)


def expansion_service_port(log_path: str) -> Callable[[], Optional[int]]:
    """The port ``tests.integration.loopback_expansion_service --port 0`` bound."""
    return _port_in_log(log_path, r"expansion service bound to 127\.0\.0\.1:(\d+)")


@pytest.fixture(scope="module")
def job_service(worker_env, tmp_path_factory) -> Iterator[str]:
    """Beam's local job service on loopback; yields its address."""
    folder = tmp_path_factory.mktemp("job_service")
    port_file = str(folder / "job_service.port")
    with _beam_service("apache_beam.runners.portability.local_job_service_main",
                       ["--port", "0", "--port_file", port_file,
                        "--staging_dir", str(folder / "staging")],
                       _port_in_file(port_file), str(folder / "job_service.log")) as address:
        yield address


@pytest.fixture(scope="module")
def worker_pool(worker_env, tmp_path_factory) -> Iterator[str]:
    """Beam's Python worker pool (what Flink task managers run beside them)."""
    folder = tmp_path_factory.mktemp("worker_pool")
    log = str(folder / "worker_pool.log")
    with _beam_service("apache_beam.runners.worker.worker_pool_main", ["--service_port=0"],
                       _port_in_log(log, r"worker pool servicer at port: \S*:(\d+)"),
                       log) as address:
        yield address


RUNNERS = ["direct_multi_processing", "portable_loopback", "portable_external"]


@pytest.fixture(params=RUNNERS)
def runner_flags(request, worker_env) -> List[str]:
    """The command-line flags that select one runner and its SDK workers."""
    if request.param == "direct_multi_processing":
        return ["--runner=DirectRunner", "--direct_running_mode=multi_processing",
                "--direct_num_workers=2"]
    flags = ["--runner=PortableRunner",
             "--job_endpoint=%s" % request.getfixturevalue("job_service")]
    if request.param == "portable_loopback":
        return flags + ["--environment_type=LOOPBACK"]
    return flags + ["--environment_type=EXTERNAL",
                    "--environment_config=%s" % request.getfixturevalue("worker_pool")]


class _RanOutOfProcess:
    """Matcher: every pid is another process's (or, for LOOPBACK, this one's)."""

    def __init__(self, test_pid: int, out_of_process: bool) -> None:
        self._test_pid = test_pid
        self._out_of_process = out_of_process

    def __call__(self, pids: List[int]) -> None:
        elsewhere = {pid != self._test_pid for pid in pids}
        if elsewhere != {self._out_of_process}:
            raise BeamAssertException("workers ran in pids %s; test pid %d, out of process "
                                      "expected: %s" % (sorted(set(pids)), self._test_pid,
                                                        self._out_of_process))


def run_to_completion(pipeline: beam.Pipeline) -> None:
    """Runs the pipeline; fails the test unless it is DONE within RUN_SECONDS."""
    result = pipeline.run()
    state = result.wait_until_finish(duration=int(RUN_SECONDS * 1000))
    if state != PipelineState.DONE:
        with contextlib.suppress(NotImplementedError, grpc.RpcError):
            result.cancel()
        pytest.fail("pipeline ended in state %s after %.0f s" % (state, RUN_SECONDS))


def test_writers_on_each_runner_store_every_record_and_dead_letter_the_refused(
        runner_flags, emulator_factory):
    emulator = emulator_factory(config=EMULATOR_CONFIG)
    points = [{"property_alias": alias, "value": float(n), "timestamp": NOW - 300 + n}
              for alias in ALIASES for n in range(20)]
    bad_points = [{"property_alias": "/portable/t9/power", "value": 1.0, "timestamp": NOW},
                  {"property_alias": ALIASES[0], "value": 5e12, "timestamp": NOW}]
    messages = [{"input_name": INPUT, "payload": {"turbine": n, "alarm": "overspeed"}}
                for n in range(15)]
    bad_messages = [{"input_name": "missingInput", "payload": "{}"}]
    client = dict(region_name="us-east-1", endpoint_url=emulator.endpoint_url)

    pipeline = beam.Pipeline(options=PipelineOptions(runner_flags))
    sitewise = (pipeline | "Points" >> beam.Create(points + bad_points)
                | "SiteWise" >> WriteToSiteWise(**client))
    iotevents = (pipeline | "Messages" >> beam.Create(messages + bad_messages)
                 | "IoTEvents" >> WriteToIoTEvents(**client))
    written = (sitewise.written, iotevents.written) | "Written" >> beam.Flatten()
    failed = (sitewise.failed, iotevents.failed) | "Failed" >> beam.Flatten()
    assert_that(written | beam.Map(lambda r: r.service) | beam.combiners.Count.PerElement(),
                equal_to([("iotsitewise", 60), ("iotevents-data", 15)]), label="CheckWritten")
    assert_that(failed | beam.Map(lambda d: (d.service, d.resource, d.stage, d.error_code)),
                equal_to([("iotsitewise", "/portable/t9/power", "entry",
                           "ResourceNotFoundException"),
                          ("iotsitewise", ALIASES[0], "validation", "ValueOutOfRange"),
                          ("iotevents-data", "missingInput", "entry",
                           "ResourceNotFoundException")]), label="CheckFailed")
    assert_that(written | beam.Map(lambda _: os.getpid()),
                _RanOutOfProcess(os.getpid(), "--environment_type=LOOPBACK" not in runner_flags),
                label="CheckWorkers")
    run_to_completion(pipeline)

    stored = emulator.snapshot()
    values = stored["iotsitewise"]["values"]
    assert sorted(values) == sorted(ALIASES)
    for alias in ALIASES:
        assert sorted((v["timeInSeconds"], v["value"]["doubleValue"]) for v in values[alias]) \
            == [(NOW - 300 + n, float(n)) for n in range(20)]
    sent = stored["iotevents-data"]["messages"]
    assert set(sent) == {INPUT}
    assert sorted(json.loads(base64.b64decode(m["payload"]))["turbine"] for m in sent[INPUT]) \
        == list(range(15))


def test_avro_to_service_pipeline_with_runner_flags_writes_files_read_by_workers(
        runner_flags, emulator_factory, tmp_path):
    emulator = emulator_factory(config=EMULATOR_CONFIG)
    records = [{"property_alias": ALIASES[n % 3], "value": float(n),
                "timestamp": (NOW - 200 + n) * 1_000_000} for n in range(30)]
    records.append({"property_alias": "/portable/t9/power", "value": 1.0,
                    "timestamp": NOW * 1_000_000})
    (tmp_path / "in").mkdir()
    with open(tmp_path / "in" / "part-0.avro", "wb") as handle:
        fastavro.writer(handle, load_schema("sitewise_record"), records)
    dlq = tmp_path / "dlq"
    options = avro_to_service.AvroToServiceOptions(runner_flags + [
        "--avro_input", str(tmp_path / "in" / "*.avro"), "--service", "sitewise",
        "--dead_letter_output", str(dlq), "--region_name", "us-east-1",
        "--endpoint_url", emulator.endpoint_url, "--max_buffering_seconds", "1"])

    pipeline = beam.Pipeline(options=options)
    avro_to_service.build(pipeline, options)
    run_to_completion(pipeline)

    values = emulator.snapshot()["iotsitewise"]["values"]
    stored = sorted(v["value"]["doubleValue"] for alias in ALIASES for v in values[alias])
    assert stored == [float(n) for n in range(30)]
    letters = []
    for path in glob.glob(str(dlq / "*.avro")):
        with open(path, "rb") as handle:
            letters.extend(fastavro.reader(handle))
    assert [(l["resource"], l["stage"], l["error_code"]) for l in letters] == [
        ("/portable/t9/power", "entry", "ResourceNotFoundException")]


def test_yaml_example_on_external_workers_stores_readings_and_writes_dead_letters(
        emulator_factory, job_service, worker_pool, tmp_path):
    from tests.integration import test_yaml as example

    emulator = emulator_factory(config=example.FARM)
    output = str(tmp_path / "out")
    example.run_example(emulator.endpoint_url, output, [
        "--runner=PortableRunner", "--job_endpoint=%s" % job_service,
        "--environment_type=EXTERNAL", "--environment_config=%s" % worker_pool])
    example.assert_example_results(emulator, output)
