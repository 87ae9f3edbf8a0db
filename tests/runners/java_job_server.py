"""A fetched Beam job server (Flink or Spark) started by a test as a JVM of its own.

``started`` runs the ``java`` command ``make engines`` recorded for the engine, with the
driver's flags, in a session of its own on a job port from the OS; it yields the job
endpoint once the port answers gRPC and stops the process group at the end (SIGTERM,
then SIGKILL, bounded), whatever the test did.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from typing import Iterator, Sequence

import grpc
import pytest

from tests.conftest import stop_process_group
from tests.runners import engines, flink_cluster

READY_SECONDS = 120.0


def log_tail(folder: str, characters: int = 3000) -> str:
    with open(os.path.join(folder, "job-server.log"), errors="replace") as handle:
        return handle.read()[-characters:]


@contextlib.contextmanager
def started(engine: str, folder: str, flags: Sequence[str] = (), jvm: Sequence[str] = (),
            prefix: Sequence[str] = ()) -> Iterator[str]:
    """Starts ``engine``'s job server with the driver's ``flags`` (``jvm``: flags of the
    JVM; ``prefix``: a command that execs the rest, e.g. ``unshare``), its log in
    ``folder/job-server.log``; yields ``127.0.0.1:<job port>``."""
    os.makedirs(folder, exist_ok=True)
    port = flink_cluster.free_port()
    log = open(os.path.join(folder, "job-server.log"), "wb")
    java, *command = engines.job_server_command(engine)
    process = subprocess.Popen(
        list(prefix) + [java] + list(jvm) + command + ["--job-host=127.0.0.1", "--job-port=%d" % port, "--artifact-port=0",
           "--expansion-port=0"] + list(flags),
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        address = "127.0.0.1:%d" % port
        with grpc.insecure_channel(address) as channel:
            try:
                grpc.channel_ready_future(channel).result(timeout=READY_SECONDS)
            except grpc.FutureTimeoutError:
                pytest.fail("the %s (exit %s) did not answer in %.0f s:\n%s" % (
                    engine, process.poll(), READY_SECONDS, log_tail(folder)))
        yield address
    finally:
        stop_process_group(process, 15, 5)
        log.close()
