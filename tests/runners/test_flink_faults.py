"""Crashes under checkpointing on a standalone Flink cluster, parallelism 2: the
TaskManager killed while the writers are sending (and a new one started), and separately
the SDK worker pool killed (and started again), each time after a checkpoint completed
mid-stream. Flink fails the job over and restores that checkpoint; the reliability ledger
then accounts for every record.

The stream is the one of ``test_flink.py`` (a ``TestStream`` in 1 s fixed windows, five
writers, a checkpoint every second), with every request answered 300 ms late so that the
writers are still sending when checkpoints complete. The crash comes once the emulator
has received requests and a checkpoint has completed, with the writers' buffered
records and timers and the records still in flight between the steps (unaligned
checkpoints) in it. Which checkpoint that is depends on the machine's load: under load,
often one taken since the first request; on a quiet machine, checkpoint 1, taken before
it, as the later ones are declined while the source's task finishes (its reason is
printed). Restored from a checkpoint taken before the source finished, the source,
which keeps no position, emits its whole stream again on top of the records the
checkpoint kept, so the writers receive every record twice. Flink's REST API names the
checkpoint the job was restored from. What was done after that checkpoint is done
again: requests are resent and records delivered again are sent again (each service's
own idempotency keeps one copy: DataZone's because each form is sent alone with its
own token), and outputs are re-emitted, which are counted and printed per service,
never folded away silently (``ledger_run.replayed_ledger``).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import time
import urllib.request
from typing import Any, Dict, Optional, Tuple

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
# Checkpoints to files: the JobManager's default in-memory checkpoint storage takes 5 MB,
# a refused checkpoint fails the job (tolerable checkpoint failures: 0), and a job's
# state can exceed it (13-18 MB with a PeriodicImpulse source; under 1 MB here).
CHECKPOINT_CONFIG = "state.checkpoint-storage: filesystem\nstate.checkpoints.dir: file://%s\n"
# Unaligned checkpoints: the stream's records are all in the network buffers at once, and
# an aligned barrier, queued behind them, would pass the writers only after the last one.
FLAGS = STREAM + ["--number_of_execution_retries=1000", "--execution_retry_delay=2000",
                  "--unaligned_checkpoint_enabled"]
# The TestStream emits its whole stream at once: each record takes this long to make and
# every answer comes this late, so that the writers send for about a minute and
# checkpoints complete while they do.
PACE_SECONDS = 0.1
LATENCY_MS = 300.0
# Generous: on this shared machine (load 25 on 2 cores) a run once took 8 minutes.
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


def _checkpoints(port: int, job: str) -> Dict[str, Any]:
    return _rest(port, "/jobs/%s/checkpoints" % job) or {}


def _completed(port: int, job: str) -> Optional[Dict[str, Any]]:
    """The job's latest completed checkpoint, if any."""
    return (_checkpoints(port, job).get("latest") or {}).get("completed")


def _wait_for_crash_point(port: int, emulator, result, outputs: str) -> Tuple[str, Dict[str, Any]]:
    """Until the writers have sent requests and a checkpoint has completed; the job's id
    and that checkpoint. Fails if every record has an output first (the crash would come
    too late to test a restore). How soon checkpoints complete varies from run to run:
    the latest one may be from before the first request (docs/RUNNERS.md)."""
    deadline = time.monotonic() + CRASH_BOUND_SECONDS
    first_request_ms = None
    while time.monotonic() < deadline:
        assert result.state in (PipelineState.STARTING, PipelineState.RUNNING), (
            "job %s before the crash, after %d requests, with %d outputs" % (
                result.state, len(emulator.requests()), len(ledger_run.read_outputs(outputs))))
        job = _running_job(port)
        if first_request_ms is None and emulator.requests() and job:
            first_request_ms = time.time() * 1000.0
        if first_request_ms is not None and job:
            checkpoint = _completed(port, job)
            if checkpoint:
                checkpoint = dict(checkpoint, after_first_request=checkpoint.get(
                    "latest_ack_timestamp", 0) >= first_request_ms)
                return job, checkpoint
            done = {ledger_run.record_of(kind, fields)
                    for kind, fields in ledger_run.read_outputs(outputs)}
            assert len(done) < RECORDS, (
                "every record had an output before a checkpoint completed mid-stream: %s"
                % _checkpoints(port, job).get("counts"))
        time.sleep(0.1)
    raise AssertionError("no checkpoint completed while the writers sent, %.0f s after "
                         "submission" % CRASH_BOUND_SECONDS)


@pytest.mark.parametrize("crashed", ["taskmanager", "worker-pool"])
def test_flink_replays_the_stream_after_a_crash(worker_env, crashed, emulator_factory,
                                             tmp_path):
    require("flink")
    require("flink-standalone")
    require("flink-faults")
    faults = {service: dataclasses.replace(config, latency_ms=LATENCY_MS)
              for service, config in ledger_run.fault_configs(seed=13).items()}
    emulator = emulator_factory(faults=faults)
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
        ledger_run.build(pipeline, emulator.endpoint_url, RECORDS, outputs, streaming=True,
                         source="test-stream", pace_seconds=PACE_SECONDS)
        submitted = time.monotonic()
        result = pipeline.run()
        try:
            job, checkpoint = _wait_for_crash_point(port, emulator, result, outputs)
            at_crash = {ledger_run.record_of(kind, fields)
                        for kind, fields in ledger_run.read_outputs(outputs)}
            sent_at_crash = len(emulator.requests())
            killed = flink_cluster.kill(folder, crashed)
            crash_at = time.monotonic() - submitted
            print("%s (pid %d) killed %.0f s after submission, after %d requests, with %d of "
                  "%d records in an output, after checkpoint %s had completed (%s the "
                  "first request)" % (
                      crashed, killed, crash_at, sent_at_crash, len(at_crash), RECORDS,
                      checkpoint.get("id"),
                      "after" if checkpoint["after_first_request"] else "before"))
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
        restored = (after.get("latest") or {}).get("restored") or {}
        failures = [entry.get("exceptionName") or entry.get("exception", "")[:200]
                    for entry in (_rest(port, "/jobs/%s/exceptions" % job) or {}).get(
                        "exceptionHistory", {}).get("entries", [])]
        done_at = time.monotonic() - submitted
        assert state == PipelineState.DONE, "job ended %s after %.0f s" % (state, done_at)
        metrics = ledger_run.metrics_of(result)
    book, replays = ledger_run.replayed_ledger(RECORDS, outputs, emulator, metrics)
    declined = collections.Counter(
        (entry.get("failure_message") or "")[:160] for entry in after.get("history") or ()
        if entry.get("status") == "FAILED")
    print("job DONE %.0f s after submission; restored from checkpoint %s; checkpoints at "
          "the end: %s; failures: %s" % (done_at, restored.get("id"), after.get("counts"),
                                         failures))
    print("checkpoints that failed, by reason (the REST API keeps the latest few): %s"
          % dict(declined))
    print("re-emitted after the restore, per service: %s" % replays)
    print("records_in (the last attempt's metrics): %s" % {
        s: m.get("records_in", 0) for s, m in metrics.items()})
    assert len(at_crash) < RECORDS, "every record had an output before the crash"
    assert failures, "Flink recorded no failure for the crash"
    # The restore started from a checkpoint taken mid-stream, not from the beginning.
    assert restored.get("id", -1) >= checkpoint["id"], (restored, checkpoint)
    assert len(emulator.requests()) > sent_at_crash, "nothing was sent after the restart"
    assert book.problems == [], "\n".join(book.problems[:30])
    assert (book.lost, book.duplicated) == (0, 0)
    for service in ledger_run.SERVICES:
        assert book.written[service] > 0, (service, book.written)
