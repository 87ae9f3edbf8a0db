"""The five writers' batch pipeline on Beam's Spark job server (local Spark, 2 threads),
read back and checked by the reliability ledger. Needs ``engines.SPARK_JOB_SERVER``."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from tests.runners import engines, ledger_run
from tests.runners.conftest import require

RECORDS = 200


@pytest.fixture
def spark_jar(worker_env, job_servers) -> str:
    require("spark")
    return engines.jar_path(engines.SPARK_JOB_SERVER)


def test_spark_local_batch(spark_jar, emulator_factory, tmp_path):
    emulator = emulator_factory(faults=ledger_run.fault_configs(seed=21))
    folder = str(tmp_path / "out")
    pipeline = beam.Pipeline(options=PipelineOptions([
        "--runner=SparkRunner", "--spark_master_url=local[2]",
        "--spark_job_server_jar=%s" % spark_jar, "--environment_type=LOOPBACK"]))
    ledger_run.build(pipeline, emulator.endpoint_url, RECORDS, folder)
    result = ledger_run.run(pipeline, 240.0)
    ledger_run.assert_clean(ledger_run.ledger(RECORDS, folder, emulator,
                                              ledger_run.metrics_of(result)), RECORDS)
