"""The standalone Flink cluster of ``templates/flink/standalone-cluster.sh``: a JobManager
and a TaskManager as separate JVMs from the fetched distribution, and the Python SDK
worker pool beside the TaskManager; started, checked and stopped with bounded waits
(``flink_cluster.cluster`` fails if any of the three still runs after the stop)."""

from __future__ import annotations

import grpc
import pytest

from tests.runners import engines, flink_cluster
from tests.runners.conftest import require


@pytest.fixture
def flink_dist(worker_env) -> str:
    require("flink-cluster")
    return engines.flink_home()


def test_standalone_cluster_registers_two_slots_and_its_worker_pool_answers(
        flink_dist, tmp_path):
    pool = flink_cluster.free_port()
    folder = str(tmp_path / "cluster")
    with flink_cluster.cluster(folder, slots=2, worker_pool_port=pool) as ports:
        seen = flink_cluster.overview(ports["rest_port"])
        assert seen["flink-version"] == engines.FLINK_DIST_VERSION
        assert (seen["taskmanagers"], seen["slots-total"]) == (1, 2)
        # Two processes, not one: the JobManager and the TaskManager have pids of their own.
        jm, tm = (flink_cluster.pid_of(folder, n) for n in ("jobmanager", "taskmanager"))
        assert jm != tm and flink_cluster.alive(jm) and flink_cluster.alive(tm)
        with grpc.insecure_channel("127.0.0.1:%d" % pool) as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
