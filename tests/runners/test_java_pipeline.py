"""A Java pipeline writing through ``WriteToSiteWise`` on the Flink job server.

Part of the engine tier (``make test-runners``); ``BEAM_BATCHPUT_SKIP_ENGINES=java``
opts out. It needs what ``make engines`` fetched for Flink (Beam Java 2.62.0 in
``.engines/m2``), a JDK 17 and Maven: without them it fails with the reason. The first
build fetches the rest of the program's Beam Java artifacts (the Python extension, the
portable runner) from Maven Central into that same repository; the test then took about
3 minutes here on 2 loaded cores, the Maven build included. ``java/build.sh`` is what it, or a CI job, calls to build;
``MAVEN_REPO`` points Maven at another local repository than ``.engines/m2``.

What runs: the Java program in ``java/`` (Beam Java, PortableRunner) expands
``beam_batchput.WriteToSiteWise`` through Beam's Python expansion service (on
loopback), submits to Beam's Flink job server (a local Flink cluster, Java
steps EMBEDDED; started from the program's classpath, which carries the Java SDK
harness those steps need), which runs the Python steps on EXTERNAL workers from a
Python worker pool. Receipts and dead letters come back to Java as rows and are
written as text; the emulator says what was stored.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import subprocess
import time
from typing import Iterator, List

import pytest

from tests.conftest import stop_process_group
from tests.integration.test_cross_language import expansion_service  # noqa: F401 # fixture
from tests.integration.test_portability import (  # noqa: F401 # fixtures
    ROOT,
    worker_env,
    worker_pool,
)
from tests.runners import engines
from tests.runners.conftest import require

pytestmark = pytest.mark.java

JAVA = os.path.join(ROOT, "java")
BUILD_SECONDS = 900
READY_SECONDS = 90
RUN_SECONDS = 240
ALIASES = ["/java/t1/power", "/java/t2/power"]


@pytest.fixture(scope="module")
def classpath() -> str:
    """Builds ``java/`` with Maven; the runtime classpath of the program and the job server."""
    require("java")
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            pytest.fail("%r is not on PATH (the Java pipeline needs a JDK 17 and Maven; set %s="
                        "java to opt out)" % (tool, engines.SKIP_VARIABLE), pytrace=False)
    env = dict(os.environ)
    env.setdefault("MAVEN_REPO", os.path.join(engines.ENGINES, "m2"))
    build = subprocess.run([os.path.join(JAVA, "build.sh")], capture_output=True, text=True,
                           timeout=BUILD_SECONDS, env=env)
    assert build.returncode == 0, (build.stdout + build.stderr)[-5000:]
    with open(os.path.join(JAVA, "target", "classpath.txt")) as handle:
        dependencies = handle.read().strip()
    return os.pathsep.join([os.path.join(JAVA, "target", "classes"), dependencies])


@contextlib.contextmanager
def _java_process(args: List[str], log_path: str) -> Iterator[subprocess.Popen]:
    with open(log_path, "wb") as log:
        process = subprocess.Popen(["java"] + args, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        yield process
    finally:
        stop_process_group(process, 10, 10)


@pytest.fixture(scope="module")
def flink_job_server(classpath, tmp_path_factory) -> Iterator[str]:
    """Beam's Flink job server (FlinkJobServerDriver, a local Flink) on a port from
    the OS: given ``--job-port=0`` it logs the port it bound ("JobService started on
    localhost:PORT"), on the loopback address. (Beam binds its job and artifact
    services on every interface whatever ``--job-host`` says.)"""
    folder = tmp_path_factory.mktemp("flink")
    log_path = str(folder / "job_server.log")
    with _java_process(["-Xmx1g"] + engines.JAVA_OPENS + [
            "-cp", classpath, "org.apache.beam.runners.flink.FlinkJobServerDriver",
            "--job-host=127.0.0.1", "--job-port=0", "--artifact-port=0",
            "--expansion-port=0", "--flink-master=[local]"], log_path) as process:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            with open(log_path, errors="replace") as handle:
                started = re.search(r"JobService started on \S+:(\d+)", handle.read())
            if started:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                with open(log_path, errors="replace") as handle:
                    pytest.fail("the Flink job server did not start:\n%s" % handle.read()[-3000:])
            time.sleep(0.5)
        yield "127.0.0.1:%s" % started.group(1)


def test_java_pipeline_on_flink_writes_through_write_to_sitewise_and_reads_both_outputs(
        classpath, flink_job_server, expansion_service, emulator_factory, tmp_path):
    emulator = emulator_factory(config={"iotsitewise": {"property_aliases": ALIASES}})
    start = int(time.time()) - 120
    output = tmp_path / "out"
    with _java_process(["-Xmx512m", "-cp", classpath,
                        "io.beambatchput.examples.WriteToSiteWiseFromJava",
                        "--runner=PortableRunner", "--jobEndpoint=%s" % flink_job_server,
                        "--defaultEnvironmentType=EMBEDDED",
                        "--pythonExpansionService=%s" % expansion_service,
                        "--regionName=us-east-1", "--endpointUrl=%s" % emulator.endpoint_url,
                        "--aliases=%s" % ",".join(ALIASES + ["/java/t9/power"]),
                        "--startSeconds=%d" % start, "--output=%s" % output],
                       str(tmp_path / "java.log")) as run:
        try:
            returncode = run.wait(timeout=RUN_SECONDS)
        except subprocess.TimeoutExpired:
            returncode = None
    with open(tmp_path / "java.log", errors="replace") as handle:
        assert returncode == 0, handle.read()[-5000:]

    def lines(prefix: str) -> List[str]:
        found = []
        for path in glob.glob(str(output / (prefix + "*"))):
            with open(path) as handle:
                found.extend(line.strip() for line in handle if line.strip())
        return sorted(found)

    assert lines("written") == sorted(["iotsitewise %s" % alias for alias in ALIASES] * 5)
    assert lines("failed") == ["/java/t9/power entry ResourceNotFoundException"] * 5
    values = emulator.snapshot()["iotsitewise"]["values"]
    assert {alias: sorted((v["timeInSeconds"], v["value"]["doubleValue"]) for v in values[alias])
            for alias in values} == {
        alias: [(start + n, float(n)) for n in range(5)] for alias in ALIASES}
