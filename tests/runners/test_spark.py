"""The five writers' batch pipeline on Beam's Spark job server, local Spark with two
threads (``local[2]``), read back and checked by the reliability ledger.

The job server is the one ``make engines`` fetched (``engines.fetch_spark_job_server``:
Beam's shaded jar if served, else the Spark 3 runner assembled from Maven Central with
Spark 3.5's jars), started by the test as a JVM of its own and submitted to with
PortableRunner; the Python workers are LOOPBACK (in the test's process).
"""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from tests.runners import java_job_server, ledger_run
from tests.runners.conftest import require

RECORDS = 200
RUN_SECONDS = 240.0
# Spark's driver and UI bind every interface by default, the UI on 4040 and up: loopback
# only, and no UI.
SPARK_JVM = ["-Dspark.ui.enabled=false", "-Dspark.driver.host=127.0.0.1",
             "-Dspark.driver.bindAddress=127.0.0.1"]


@pytest.fixture
def spark_server(worker_env) -> str:
    require("spark")
    return "spark-job-server"


def test_spark_local_batch(spark_server, emulator_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    emulator = emulator_factory(faults=ledger_run.fault_configs(seed=21))
    folder = str(tmp_path / "out")
    with java_job_server.started(spark_server, str(tmp_path / "server"),
                            ["--spark-master-url=local[2]",
                             "--artifacts-dir=%s" % (tmp_path / "artifacts")],
                            jvm=SPARK_JVM) as endpoint:
        pipeline = beam.Pipeline(options=PipelineOptions([
            "--runner=PortableRunner", "--job_endpoint=%s" % endpoint,
            "--environment_type=LOOPBACK"]))
        ledger_run.build(pipeline, emulator.endpoint_url, RECORDS, folder)
        result = ledger_run.run(pipeline, RUN_SECONDS)
        book = ledger_run.ledger(RECORDS, folder, emulator, ledger_run.metrics_of(result))
    ledger_run.assert_clean(book, RECORDS)
