"""Crashes under checkpointing on a standalone Flink cluster, parallelism 2: the
TaskManager killed while the writers are sending (and a new one started), and separately
the SDK worker pool killed (and started again). Flink fails the job over and restores the
last completed checkpoint; the reliability ledger then accounts for every record.

The stream is the one of ``test_flink.py`` (``PeriodicImpulse``, 1 s fixed windows, five
writers, a checkpoint every second). On Beam Java 2.62's Flink runner that stream has no
completed checkpoint before the crash: ``PeriodicImpulse`` (a splittable DoFn that defers
its remainder) emits nothing while the Impulse source runs, and its ticks all come when
the source shuts down, with a checkpoint that completes only after them (docs/RUNNERS.md).
So the restore starts the job again from the beginning and the whole stream is replayed:
what is checked is that replay, against each service's own idempotency. Re-emitted
outputs are counted and printed per service, never folded away silently
(``ledger_run.replayed_ledger``).
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from typing import Any, Dict, Optional

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineState

from tests.runners import flink_cluster, ledger_run
from tests.runners.conftest import require
from tests.runners.test_flink import STREAM, job_server

RECORDS = 200
# A lost TaskManager is noticed within a few seconds (Flink's default heartbeat timeout
# is 50 s). Restarts are fixed-delay, 2 s apart, and many: until the new TaskManager has
# registered, each attempt fails at once (NoResourceAvailableException), 18 of them in
# one run here; RUN_SECONDS bounds the whole.
CLUSTER_CONFIG = "heartbeat.interval: 1000\nheartbeat.timeout: 10000\n"
# Checkpoints to files: the job's state (about 13-18 MB here) is over the 5 MB the
# JobManager's default in-memory checkpoint storage takes, and a refused checkpoint
# fails the job (tolerable checkpoint failures: 0).
CHECKPOINT_CONFIG = "state.checkpoint-storage: filesystem\nstate.checkpoints.dir: file://%s\n"
FLAGS = STREAM + ["--number_of_execution_retries=1000", "--execution_retry_delay=2000"]
# Generous: on this shared machine (load 25 on 2 cores) a run took 8 minutes.
CRASH_BOUND_SECONDS = 400.0     # from submission until the writers send
RUN_SECONDS = 900.0             # from submission until DONE
DOWN_SECONDS = 3.0              # how long the killed process stays down


def _rest(port: int, path: str) -> Optional[Any]:
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as got:
            return json.load(got)
    except OSError:
        return None


def _running_job(port: int) -> Optional[str]:
    """The id of the cluster's one job once it is RUNNING."""
    jobs = (_rest(port, "/jobs/overview") or {}).get("jobs", [])
    return jobs[0]["jid"] if len(jobs) == 1 and jobs[0]["state"] == "RUNNING" else None


def _checkpoints(port: int, job: str) -> Dict[str, int]:
    return (_rest(port, "/jobs/%s/checkpoints" % job) or {}).get("counts", {})


def _wait_for_crash_point(port: int, emulator, result) -> str:
    """Until the writers have sent their first requests; the job's id."""
    deadline = time.monotonic() + CRASH_BOUND_SECONDS
    while time.monotonic() < deadline:
        if emulator.requests():
            job = _running_job(port)
            if job:
                return job
        assert result.state in (PipelineState.STARTING, PipelineState.RUNNING), result.state
        time.sleep(0.1)
    raise AssertionError("no request from the writers %.0f s after submission"
                         % CRASH_BOUND_SECONDS)


@pytest.mark.parametrize("crashed", ["taskmanager", "worker-pool"])
def test_flink_replays_the_stream_after_a_crash(worker_env, crashed, emulator_factory,
                                             tmp_path):
    require("flink")
    require("flink-standalone")
    require("flink-faults")
    emulator = emulator_factory(faults=ledger_run.fault_configs(seed=13))
    pool = flink_cluster.free_port()
    folder = str(tmp_path / "cluster")
    outputs = str(tmp_path / "outputs")
    config = CLUSTER_CONFIG + CHECKPOINT_CONFIG % os.path.join(str(tmp_path), "checkpoints")
    with flink_cluster.cluster(folder, slots=2, worker_pool_port=pool,
                               extra_config=config) as running, \
            job_server("127.0.0.1:%d" % running["rest_port"], folder,
                       ["--artifacts-dir=%s" % os.path.join(folder, "artifacts")]) as endpoint:
        port = running["rest_port"]
        pipeline = beam.Pipeline(options=PipelineOptions(FLAGS + [
            "--runner=PortableRunner", "--job_endpoint=%s" % endpoint, "--parallelism=2",
            "--environment_type=EXTERNAL", "--environment_config=127.0.0.1:%d" % pool]))
        ledger_run.build(pipeline, emulator.endpoint_url, RECORDS, outputs, streaming=True)
        submitted = time.monotonic()
        result = pipeline.run()
        try:
            job = _wait_for_crash_point(port, emulator, result)
            before = _checkpoints(port, job)
            at_crash = {ledger_run.record_of(kind, fields)
                        for kind, fields in ledger_run.read_outputs(outputs)}
            sent_at_crash = len(emulator.requests())
            killed = flink_cluster.kill(folder, crashed)
            crash_at = time.monotonic() - submitted
            print("%s (pid %d) killed %.0f s after submission, after %d requests, with %d of "
                  "%d records in an output; checkpoints then: %s" % (
                      crashed, killed, crash_at, sent_at_crash, len(at_crash), RECORDS, before))
            time.sleep(DOWN_SECONDS)
            flink_cluster.restart(running, crashed)
            if crashed == "taskmanager":
                flink_cluster.wait_for_slots(folder, port, 2)
            state = result.wait_until_finish(
                duration=int(max(1.0, RUN_SECONDS - (time.monotonic() - submitted)) * 1000))
        finally:
            if result.state not in (PipelineState.DONE, PipelineState.FAILED):
                result.cancel()
        after = _checkpoints(port, job)
        failures = [entry.get("exceptionName") or entry.get("exception", "")[:200]
                    for entry in (_rest(port, "/jobs/%s/exceptions" % job) or {}).get(
                        "exceptionHistory", {}).get("entries", [])]
        done_at = time.monotonic() - submitted
        assert state == PipelineState.DONE, "job ended %s after %.0f s" % (state, done_at)
        metrics = ledger_run.metrics_of(result)
    book, replays = ledger_run.replayed_ledger(RECORDS, outputs, emulator, metrics)
    print("job DONE %.0f s after submission; checkpoints at the end: %s; failures: %s" % (
        done_at, after, failures))
    print("re-emitted after the restore, per service: %s" % replays)
    print("records_in (the last attempt's metrics): %s" % {
        s: m.get("records_in", 0) for s, m in metrics.items()})
    assert len(at_crash) < RECORDS, "every record had an output before the crash"
    assert failures, "Flink recorded no failure for the crash"
    assert len(emulator.requests()) > sent_at_crash, "nothing was sent after the restart"
    assert book.problems == [], "\n".join(book.problems[:30])
    assert (book.lost, book.duplicated) == (0, 0)
    for service in ledger_run.SERVICES:
        assert book.written[service] > 0, (service, book.written)
