"""How a job's staged artifacts reach the workers of a standalone Flink cluster.

One standalone cluster (``templates/flink/standalone-cluster.sh``: JobManager and
TaskManager, two slots) and, beside the TaskManager, a Python worker pool that runs the
SDK container's entry point (``boot``, built by ``make engines``) for each worker, as Beam's
SDK image does with ``--worker_pool``: ``boot`` fetches the job's artifacts from the
TaskManager, which reads them where the job server staged them, before it starts the
Python worker. Every pipeline stages one file of its own (``--files_to_stage``) besides
what Beam stages itself, runs the five writers in batch at parallelism 2, and the emulator
is read back:

- job server with a private ``--artifacts-dir`` (a tmpfs mounted in a mount namespace of
  its own, so the TaskManager, on the same host, sees an empty folder, as one on another
  host or container would): ``boot`` cannot fetch the staged file (the TaskManager
  answers with a bare gRPC ``UNKNOWN``), no worker starts, nothing reaches the service,
  and the job does not fail: it stays RUNNING until the test cancels it through Flink's
  REST API;
- job server with an ``--artifacts-dir`` the TaskManager sees (shared): the ledger is
  clean and the staged file reached the worker;
- ``FlinkRunner --flink_submit_uber_jar``, no job server: Python builds one jar from the
  Flink job server jar with the pipeline and its artifacts inside and submits it through
  the JobManager's REST API; nothing is shared on disk, the ledger is clean and the staged
  file reached the worker.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from typing import Iterator, List

import apache_beam as beam
import grpc
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineState

from tests.conftest import set_worker_environment, stop_process_group
from tests.runners import engines, flink_cluster, java_job_server, ledger_run
from tests.runners.conftest import require

RECORDS = 200
# Generous: each submission through the classpath job server uploads its ~190 MB of jars
# to the JobManager first, which took up to two minutes on the shared machine.
RUN_SECONDS = 420.0
# How long (from submission) the workers get to try the staged file they cannot see.
MISSING_SECONDS = 240.0
STAGED_NAME = "writer-settings.json"
ENDED = ("FINISHED", "CANCELED", "FAILED")


@dataclasses.dataclass
class Cluster:
    rest_port: int
    pool_port: int
    folder: str
    semi_persist: str

    def pool_log(self) -> str:
        """What the worker pool and the boot processes it started printed."""
        with open(os.path.join(self.folder, "worker-pool.log"), errors="replace") as handle:
            return handle.read()


def _processes_with(variable: str, value: str) -> List[int]:
    """Pids of live processes whose environment has ``variable=value``."""
    wanted = ("%s=%s" % (variable, value)).encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            with open("/proc/%s/environ" % entry, "rb") as environ:
                if wanted in environ.read().split(b"\0") and flink_cluster.alive(int(entry)):
                    found.append(int(entry))
    return found


@contextlib.contextmanager
def boot_worker_pool(folder: str, port: int) -> Iterator[str]:
    """``worker_pool_main`` with the SDK container's ``boot`` as each worker's executable
    (its staging folder under ``folder``); yields that folder. Stops the pool's process
    group and fails if any process it started (boot, Python workers) is left."""
    semi_persist = os.path.join(folder, "semi-persist")
    os.makedirs(semi_persist, exist_ok=True)
    # The pool starts the executable with the endpoints only; boot's staging folder
    # defaults to /tmp, so a wrapper adds it (Go's flags: the last one wins).
    wrapper = os.path.join(folder, "boot.sh")
    with open(wrapper, "w") as handle:
        handle.write('#!/bin/sh\nexec %s "$@" --semi_persist_dir=%s\n'
                     % (engines.python_boot_path(), semi_persist))
    os.chmod(wrapper, 0o755)
    marker = uuid.uuid4().hex
    env = dict(os.environ, BEAM_BATCHPUT_TEST_POOL=marker,
               # The SDK image's Python is the one with Beam; here that is this venv, which
               # boot would otherwise copy into a venv of its own under /opt/apache.
               RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT="1")
    log = open(os.path.join(folder, "worker-pool.log"), "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
         "--service_port=%d" % port, "--container_executable=%s" % wrapper],
        # boot writes pipeline_options.json into its working folder.
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder, start_new_session=True)
    try:
        with grpc.insecure_channel("127.0.0.1:%d" % port) as channel:
            grpc.channel_ready_future(channel).result(timeout=60)
        yield semi_persist
    finally:
        stop_process_group(process, 15, 5)
        log.close()
        deadline = time.monotonic() + 15
        while _processes_with("BEAM_BATCHPUT_TEST_POOL", marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = _processes_with("BEAM_BATCHPUT_TEST_POOL", marker)
        assert not left, "worker processes %s still running after the pool stopped" % left


@pytest.fixture(scope="module")
def submission_cluster(tmp_path_factory) -> Iterator[Cluster]:
    require("flink-submission")
    folder = str(tmp_path_factory.mktemp("submission"))
    pool = flink_cluster.free_port()
    with pytest.MonkeyPatch.context() as patch:
        set_worker_environment(patch)
        with flink_cluster.cluster(os.path.join(folder, "cluster"), slots=2) as ports, \
                boot_worker_pool(folder, pool) as semi_persist:
            yield Cluster(ports["rest_port"], pool, folder, semi_persist)


@pytest.fixture(autouse=True)
def no_job_left(submission_cluster) -> Iterator[None]:
    """After each test, cancels what it left running on the shared cluster (a job the
    bound gave up on keeps its slots: cancelling through the job server does not end
    it), so one test's failure does not starve the next of slots."""
    yield
    cancel_flink_jobs(submission_cluster.rest_port)


@pytest.fixture
def staged_file(submission_cluster, tmp_path) -> str:
    """A file of this test's own to stage; the worker's copy of an earlier test removed."""
    shutil.rmtree(os.path.join(submission_cluster.semi_persist, "staged"), ignore_errors=True)
    path = tmp_path / STAGED_NAME
    path.write_text('{"token": "%s"}\n' % uuid.uuid4().hex)
    return str(path)


def _pipeline(flags: List[str], cluster: Cluster, staged: str, emulator, folder: str
              ) -> beam.Pipeline:
    pipeline = beam.Pipeline(options=PipelineOptions(flags + [
        "--parallelism=2", "--environment_type=EXTERNAL",
        "--environment_config=127.0.0.1:%d" % cluster.pool_port,
        "--files_to_stage=%s" % staged]))
    ledger_run.build(pipeline, emulator.endpoint_url, RECORDS, folder)
    return pipeline


def _assert_reached_the_worker(cluster: Cluster, staged: str) -> None:
    copy = os.path.join(cluster.semi_persist, "staged", STAGED_NAME)
    assert os.path.isfile(copy), "boot did not materialize %s: %s" % (
        STAGED_NAME, os.listdir(os.path.dirname(copy)) if os.path.isdir(
            os.path.dirname(copy)) else "no staged folder")
    with open(copy) as got, open(staged) as sent:
        assert got.read() == sent.read()


def _flink_jobs(rest_port: int) -> List[dict]:
    with urllib.request.urlopen("http://127.0.0.1:%d/jobs/overview" % rest_port,
                                timeout=10) as answer:
        return json.load(answer)["jobs"]


def cancel_flink_jobs(rest_port: int, seconds: float = 60.0) -> None:
    """Cancels every job of the cluster that has not ended, through Flink's REST API, and
    waits for all to end (cancelling through the Flink job server ends its invocation,
    not the Flink job)."""
    deadline = time.monotonic() + seconds
    while True:
        running = [job for job in _flink_jobs(rest_port) if job["state"] not in ENDED]
        if not running:
            return
        for job in running:
            if job["state"] != "CANCELLING":
                request = urllib.request.Request("http://127.0.0.1:%d/jobs/%s?mode=cancel" % (
                    rest_port, job["jid"]), method="PATCH")
                with contextlib.suppress(urllib.error.HTTPError):
                    urllib.request.urlopen(request, timeout=10).close()
        assert time.monotonic() < deadline, "Flink jobs not ended after %.0f s: %s" % (
            seconds, running)
        time.sleep(1)


def _job_server_flags(cluster: Cluster, artifacts: str) -> List[str]:
    return ["--flink-master=127.0.0.1:%d" % cluster.rest_port, "--artifacts-dir=%s" % artifacts]


def test_a_staging_folder_the_taskmanager_cannot_see_starts_no_worker(
        submission_cluster, staged_file, emulator_factory, tmp_path):
    cluster = submission_cluster
    emulator = emulator_factory(faults=ledger_run.fault_configs(seed=31))
    hidden = str(tmp_path / "private-artifacts")
    os.makedirs(hidden)
    # The job server's folder is a tmpfs only its own mount namespace sees; outside it
    # (the TaskManager) the folder stays empty.
    private = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
               'mount -t tmpfs beam-artifacts "$0" && exec "$@"', hidden]
    log_before = len(cluster.pool_log())
    with java_job_server.started("flink-job-server", str(tmp_path / "server"),
                                 _job_server_flags(cluster, hidden), prefix=private) as endpoint:
        # Only the test's own file is staged: boot fetches the artifacts concurrently and
        # ignores the whole failure when the first one reported is Beam's list of
        # packages (submission_environment_dependencies.txt), starting the worker without
        # any staged file; which fetch fails first is a race.
        pipeline = _pipeline(["--runner=PortableRunner", "--job_endpoint=%s" % endpoint,
                              "--experiments=disable_logging_submission_environment"],
                             cluster, staged_file, emulator, str(tmp_path / "out"))
        result = pipeline.run()
        deadline = time.monotonic() + MISSING_SECONDS
        seen = ""
        while time.monotonic() < deadline and not PipelineState.is_terminal(result.state):
            seen = cluster.pool_log()[log_before:]
            if "failed to retrieve staged files" in seen:
                break
            time.sleep(1)
        # Give the job the time it would take to fail by itself, then end it.
        time.sleep(10)
        state = result.state
        flink_states = [job["state"] for job in _flink_jobs(cluster.rest_port)
                        if job["state"] not in ENDED]
        cancel_flink_jobs(cluster.rest_port)
        with contextlib.suppress(RuntimeError):  # "failed in state CANCELLED"
            result.wait_until_finish(duration=60_000)
    assert os.listdir(hidden) == [], "the TaskManager saw the job server's private folder"
    failures = [line for line in seen.splitlines()
                if "failed to retrieve staged files" in line]
    assert failures and all(STAGED_NAME in line for line in failures), (
        "boot did not report the staged file missing within %.0f s (job %s):\n%s"
        % (MISSING_SECONDS, state, seen[-3000:]))
    # The job does not fail: the TaskManager keeps waiting for a worker that never comes.
    assert (state, flink_states) == (PipelineState.RUNNING, ["RUNNING"])
    # boot may have created the file before the fetch failed; it never got the content.
    copy = os.path.join(cluster.semi_persist, "staged", STAGED_NAME)
    with open(staged_file) as sent:
        expected = sent.read()
    if os.path.isfile(copy):
        with open(copy) as got:
            assert got.read() != expected
    assert emulator.requests() == [], "a worker sent requests though none should have started"
    assert ledger_run.read_outputs(str(tmp_path / "out")) == []


def _run_clean(flags: List[str], cluster: Cluster, staged: str, emulator, folder: str) -> None:
    """Runs the pipeline to DONE; the ledger is clean and the staged file reached the worker."""
    pipeline = _pipeline(flags, cluster, staged, emulator, folder)
    result = ledger_run.run(pipeline, RUN_SECONDS)
    ledger_run.assert_clean(ledger_run.ledger(RECORDS, folder, emulator,
                                              ledger_run.metrics_of(result)), RECORDS)
    _assert_reached_the_worker(cluster, staged)


def test_a_shared_staging_folder_reaches_the_workers(
        submission_cluster, staged_file, emulator_factory, tmp_path):
    cluster = submission_cluster
    emulator = emulator_factory(faults=ledger_run.fault_configs(seed=32))
    shared = os.path.join(cluster.folder, "artifacts")
    with java_job_server.started("flink-job-server", str(tmp_path / "server"),
                                 _job_server_flags(cluster, shared)) as endpoint:
        _run_clean(["--runner=PortableRunner", "--job_endpoint=%s" % endpoint],
                   cluster, staged_file, emulator, str(tmp_path / "out"))


def test_the_uber_jar_carries_the_artifacts_to_the_workers(
        submission_cluster, staged_file, emulator_factory, tmp_path):
    emulator = emulator_factory(faults=ledger_run.fault_configs(seed=33))
    _run_clean(["--runner=FlinkRunner",
                "--flink_master=http://127.0.0.1:%d" % submission_cluster.rest_port,
                "--flink_version=%s" % engines.FLINK_MINOR, "--flink_submit_uber_jar",
                "--flink_job_server_jar=%s" % engines.fetched_path("flink-job-server-jar")],
               submission_cluster, staged_file, emulator, str(tmp_path / "out"))
