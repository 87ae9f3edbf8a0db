"""The five writers on Flink, parallelism 2: the job server's embedded cluster, and a
standalone cluster (JobManager and TaskManager from the distribution, the Python SDK
workers an EXTERNAL worker pool beside the TaskManager, as templates/flink deploys).

Batch (``Create``) and an unbounded stream in fixed windows with checkpointing every
second, each read back and checked by the reliability ledger. The stream is a
``TestStream`` whose watermark passes each window's end after its records, so windows
close while the next ones still get input. ``PeriodicImpulse`` runs too, opted out by
default (``flink-periodic-impulse``): on this runner its ticks come out only when the
job's sources shut down, and in some runs not at all (docs/RUNNERS.md).
The job server is the one ``make engines`` fetched (``engines.fetch_flink_job_server``:
Beam's shaded jar if served, else the Flink runner assembled from Maven Central), started
by the test as a JVM of its own on ports from the OS and submitted to with PortableRunner.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Iterator, List

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from tests.runners import flink_cluster, java_job_server, ledger_run
from tests.runners.conftest import require

RECORDS = 200
RUN_SECONDS = 240.0
# An unbounded stream on Flink ends only when its sources do: Beam's Impulse source stays
# up (for checkpoints) until --shutdown_sources_after_idle_ms, by default never. Once it
# and PeriodicImpulse end, every operator flushes and the job reaches DONE (docs/RUNNERS.md).
STREAM = ["--streaming", "--checkpointing_interval=1000", "--shutdown_sources_after_idle_ms=1000"]
# Streaming writers flush at the window's end, not by the buffering bound: the per-window
# counts then check that Flink holds the watermark for the window-end output.
STREAM_BUFFERING_SECONDS = 30.0



@pytest.fixture
def flink_server(worker_env) -> str:
    require("flink")
    return "flink-job-server"


# How the pipeline is read: batch, or streaming from one of ledger_run.build's sources.
MODES = ["batch", "test-stream", "periodic-impulse"]


def _require_mode(mode: str) -> None:
    if mode != "batch":
        require("flink-stream")
    if mode == "periodic-impulse":
        require("flink-periodic-impulse")


def _run(flags: List[str], emulator, folder: str, mode: str) -> ledger_run.harness.Ledger:
    streaming = mode != "batch"
    pipeline = beam.Pipeline(options=PipelineOptions(flags + (STREAM if streaming else [])))
    outputs, counts = os.path.join(folder, "outputs"), os.path.join(folder, "counts")
    if streaming:
        ledger_run.build(pipeline, emulator.endpoint_url, RECORDS, outputs, streaming=True,
                         max_buffering_seconds=STREAM_BUFFERING_SECONDS, counts_folder=counts,
                         source=mode)
    else:
        ledger_run.build(pipeline, emulator.endpoint_url, RECORDS, outputs)
    result = ledger_run.run(pipeline, RUN_SECONDS)
    if streaming:
        assert_every_output_on_time(ledger_run.window_counts(counts))
    return ledger_run.ledger(RECORDS, outputs, emulator, ledger_run.metrics_of(result))


def assert_every_output_on_time(counts) -> None:
    """Per service and window, the receipts and dead letters a windowed combine downstream
    counted (it drops late output) equal the records sent in that window."""
    print("per-window counts (service, window start): sent / written / failed")
    for (service, start), seen in sorted(counts.items()):
        print("  %-14s %.1f  %3d / %3d / %3d" % (service, start, seen.get("sent", 0),
                                               seen.get("written", 0), seen.get("failed", 0)))
    assert sum(seen.get("sent", 0) for seen in counts.values()) == RECORDS, counts
    late = {key: seen for key, seen in counts.items()
            if seen.get("sent", 0) != seen.get("written", 0) + seen.get("failed", 0)}
    assert late == {}, "outputs missing downstream (late and dropped?): %s" % late
    assert len({start for _, start in counts}) > 1, "the stream spanned one window only"


@contextlib.contextmanager
def job_server(flink_master: str, folder: str, extra: List[str] = ()) -> Iterator[str]:
    """Beam's Flink job server for ``flink_master`` (see ``java_job_server.started``)."""
    with java_job_server.started("flink-job-server", folder,
                                 ["--flink-master=%s" % flink_master] + list(extra)) as address:
        yield address


@pytest.mark.parametrize("mode", MODES)
def test_embedded_flink_parallelism_2(flink_server, mode, emulator_factory, tmp_path):
    _require_mode(mode)
    emulator = emulator_factory(faults=ledger_run.fault_configs(seed=11))
    with job_server("[local]", str(tmp_path / "server")) as endpoint:
        book = _run(["--runner=PortableRunner", "--job_endpoint=%s" % endpoint,
                     "--parallelism=2", "--environment_type=LOOPBACK"],
                    emulator, str(tmp_path), mode)
    ledger_run.assert_clean(book, RECORDS)


@pytest.mark.parametrize("mode", MODES)
def test_standalone_flink_parallelism_2_external_workers(flink_server, mode, emulator_factory,
                                                         tmp_path):
    require("flink-standalone")
    _require_mode(mode)
    emulator = emulator_factory(faults=ledger_run.fault_configs(seed=12))
    pool = flink_cluster.free_port()
    folder = str(tmp_path / "cluster")
    with flink_cluster.cluster(folder, slots=2, worker_pool_port=pool) as ports, \
            job_server("127.0.0.1:%d" % ports["rest_port"], folder,
                       ["--artifacts-dir=%s" % os.path.join(folder, "artifacts")]) as endpoint:
        started = time.monotonic()
        book = _run(["--runner=PortableRunner", "--job_endpoint=%s" % endpoint,
                     "--parallelism=2", "--environment_type=EXTERNAL",
                     "--environment_config=127.0.0.1:%d" % pool],
                    emulator, str(tmp_path), mode)
        assert time.monotonic() - started < RUN_SECONDS
    ledger_run.assert_clean(book, RECORDS)
