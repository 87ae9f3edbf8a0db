"""The five writers on Prism, Beam's Go runner: the engine a default pipeline gets.

Beam 2.77's DirectRunner hands a pipeline to Prism when every transform is one Prism
supports; the writers have no processing-time timer on the DirectRunner, so both their
bounded and unbounded pipelines go there. Prism finds its binary at ``--prism_location``
or in Beam's own cache folder (``PrismJobServer.BIN_CACHE``,
``~/.apache_beam/cache/prism/bin``), where it would otherwise download a release zip. Workers are LOOPBACK (in this process), the emulator on
loopback; outputs are read back from the workers' files and checked by the ledger.
"""

from __future__ import annotations

import logging
import os
import zipfile
from typing import List, Tuple

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import DebugOptions, PipelineOptions
from apache_beam.runners.portability import portable_runner, prism_runner

from beam_batchput.core import _runner_support
from tests.runners import engines, ledger_run
from tests.runners.conftest import require

RECORDS = 200
RUN_SECONDS = 120.0
# Runs of the repeated test, per path.
REPEATS = 3
NO_SPLIT = _runner_support.PRISM_NO_SPLIT
# Every Prism the tests start is their own (no process-wide singleton left running).
OWN_SERVER = "--experiments=disable_prism_server_singleton"


@pytest.fixture
def prism(worker_env, job_servers) -> str:
    """The fetched Prism binary; the Prism job servers the test starts stop at its end."""
    require("prism")
    return engines.prism_path()


@pytest.fixture
def beam_cache(prism, tmp_path, monkeypatch) -> str:
    """Beam's prism cache folder holding the release zip Beam would download, relocated
    under tmp_path (the folder is resolved at import, from ``~``)."""
    folder = tmp_path / "apache_beam" / "cache" / "prism" / "bin"
    folder.mkdir(parents=True)
    name = os.path.basename(prism_runner.PrismJobServer._construct_download_url(
        "v" + engines.BEAM_VERSION, "v" + engines.BEAM_VERSION, "Linux", "x86_64"))
    with zipfile.ZipFile(folder / name, "w") as archive:
        archive.write(prism, os.path.splitext(name)[0])
    monkeypatch.setattr(prism_runner.PrismJobServer, "BIN_CACHE", str(folder))
    return str(folder)


def _run_five_writers(options, emulator, folder, streaming=False, **shape):
    pipeline = beam.Pipeline(options=options)
    ledger_run.build(pipeline, emulator.endpoint_url, RECORDS, folder, streaming=streaming,
                     **shape)
    result = ledger_run.run(pipeline, RUN_SECONDS)
    return result, ledger_run.ledger(RECORDS, folder, emulator, ledger_run.metrics_of(result))


def test_default_direct_runner_batch_runs_on_prism_from_beams_cache(
        beam_cache, emulator_factory, tmp_path, caplog):
    emulator = emulator_factory(faults=ledger_run.fault_configs(seed=3))
    caplog.set_level(logging.INFO, logger="apache_beam.runners.direct.direct_runner")
    # No --runner: what `beam.Pipeline()` gets.
    result, book = _run_five_writers(PipelineOptions([OWN_SERVER]), emulator,
                                     str(tmp_path / "out"))
    messages = [r.getMessage() for r in caplog.records]
    assert "Running pipeline with PrismRunner." in messages
    assert not [m for m in messages if "falling back" in m.lower()], messages
    assert isinstance(result, portable_runner.PipelineResult)
    # Beam unpacked the cached zip beside it and ran that binary.
    assert os.path.isfile(os.path.join(beam_cache, "apache_beam-v%s-prism-linux-amd64"
                                       % engines.BEAM_VERSION))
    ledger_run.assert_clean(book, RECORDS)


def test_direct_runner_batch_finds_prism_at_prism_location(
        prism, emulator_factory, tmp_path, caplog):
    emulator = emulator_factory(faults=ledger_run.fault_configs(seed=4))
    caplog.set_level(logging.INFO, logger="apache_beam.runners.direct.direct_runner")
    result, book = _run_five_writers(
        PipelineOptions(["--runner=DirectRunner", "--prism_location=%s" % prism, OWN_SERVER]),
        emulator, str(tmp_path / "out"))
    assert "Running pipeline with PrismRunner." in [r.getMessage() for r in caplog.records]
    assert isinstance(result, portable_runner.PipelineResult)
    ledger_run.assert_clean(book, RECORDS)


def test_prism_runner_batch(prism, emulator_factory, tmp_path):
    emulator = emulator_factory(faults=ledger_run.fault_configs(seed=5))
    _, book = _run_five_writers(
        PipelineOptions(["--runner=PrismRunner", "--prism_location=%s" % prism, OWN_SERVER]),
        emulator, str(tmp_path / "out"))
    ledger_run.assert_clean(book, RECORDS)


def test_prism_runner_streaming_in_one_window(prism, emulator_factory, tmp_path):
    # The unbounded path: PeriodicImpulse, processing-time flushes (max_buffering_seconds)
    # and the window-end flush when the source ends; one 60 s window holds the whole run.
    emulator = emulator_factory(faults=ledger_run.fault_configs(seed=6))
    _, book = _run_five_writers(
        PipelineOptions(["--runner=PrismRunner", "--prism_location=%s" % prism, OWN_SERVER,
                         "--streaming"]),
        emulator, str(tmp_path / "out"), streaming=True, window_seconds=60.0)
    ledger_run.assert_clean(book, RECORDS)


class _Handed(BaseException):
    """Raised by a recording runner: the pipeline reached it (not an Exception, which
    the DirectRunner would catch to fall back from Prism)."""


def _engine_chosen(streaming: bool, prism: str, monkeypatch) -> Tuple[str, List[str]]:
    """Which engine the DirectRunner hands the five writers' pipeline to, and the
    experiments of the options it gets."""
    from apache_beam.runners.direct import direct_runner
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    def recorder(name):
        def run_pipeline(self, pipeline, options):
            raise _Handed(name, list(options.view_as(DebugOptions).experiments or []))
        return run_pipeline

    monkeypatch.setattr(prism_runner.PrismRunner, "run_pipeline", recorder("prism"))
    monkeypatch.setattr(direct_runner.BundleBasedDirectRunner, "run_pipeline",
                        recorder("bundle_based"))
    monkeypatch.setattr(fn_runner.FnApiRunner, "run_pipeline", recorder("fn_api"))
    flags = ["--runner=DirectRunner", "--prism_location=%s" % prism]
    pipeline = beam.Pipeline(options=PipelineOptions(flags + (["--streaming"] if streaming
                                                              else [])))
    ledger_run.build(pipeline, "http://127.0.0.1:9", 10, "/nonexistent", streaming=streaming)
    with pytest.raises(_Handed) as handed:
        pipeline.run()
    return handed.value.args


def test_direct_runner_hands_both_paths_of_the_writers_to_prism(prism, monkeypatch):
    # Neither path has a processing-time timer on the DirectRunner (the unbounded one
    # bounds buffering in event time there, see core/_runner_support.py), so both go to
    # Prism, and both pipelines' options ask Prism not to split bundles: the writers'
    # stateful step loses state when Prism splits its bundles (docs/RUNNERS.md).
    for streaming in (False, True):
        engine, experiments = _engine_chosen(streaming, prism, monkeypatch)
        assert engine == "prism", streaming
        assert NO_SPLIT in experiments, (streaming, experiments)


def test_the_experiment_is_left_out_where_prism_cannot_run(tmp_path):
    pipeline = beam.Pipeline(runner="FnApiRunner", options=PipelineOptions([]))
    ledger_run.build(pipeline, "http://127.0.0.1:9", 10, str(tmp_path))
    assert NO_SPLIT not in (pipeline.options.view_as(DebugOptions).experiments or [])


@pytest.mark.parametrize("streaming", [False, True], ids=["batch", "streaming-1s-windows"])
def test_prism_repeated_runs_lose_nothing(prism, emulator_factory, tmp_path, streaming):
    # The runs that lost records (docs/RUNNERS.md, "Prism lost records") came one in a
    # few, more on a busy machine; each run here is accounted for record by record.
    flags = ["--runner=PrismRunner", "--prism_location=%s" % prism, OWN_SERVER]
    shape = dict(streaming=True, window_seconds=1.0) if streaming else {}
    for run in range(REPEATS):
        emulator = emulator_factory(faults=ledger_run.fault_configs(seed=20 + run))
        _, book = _run_five_writers(
            PipelineOptions(flags + (["--streaming"] if streaming else [])), emulator,
            str(tmp_path / ("run%d" % run)), **shape)
        ledger_run.assert_clean(book, RECORDS)
