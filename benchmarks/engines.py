"""WriteToSiteWise at 50 ms per request on each engine, in one run: ``python -m
benchmarks.engines [--points N] [--engine NAME ...]``.

Engines: the DirectRunner's batch engine when it finds no Prism (``FnApiRunner``),
Prism (what the DirectRunner picks when it finds one), Flink embedded in Beam's Flink
job server at parallelism 1 and 2, and a standalone Flink cluster (JobManager and
TaskManager JVMs) at parallelism 2, the last three when ``make engines`` fetched them.
On Flink the Python steps run on EXTERNAL workers: a worker pool in a process of its
own that starts one worker process per SDK environment (``--sdk_worker_parallelism``
equal to the parallelism), as on a TaskManager; LOOPBACK workers would be threads of
this process, all behind one interpreter lock.

Each engine runs the same pipeline at N and at 2N points against one emulator (its own
process, ``latency_ms=50``), whose request log times every request. Three rates:

- *sending*: the points of the 2N run ÷ the time from the first request's arrival at the
  emulator to the last one's answer: the writer's rate while it sends, start-up (job
  submission, workers, the first stage's records) and tear-down excluded;
- *steady*: N ÷ (t(2N) − t(N)) over whole runs (as figure 3, ``benchmarks.run._rates``): start-up
  cancels out if it is the same in both runs, whatever the engine does before sending
  (a stage that must finish first) is included; ``-`` when the 2N run took no longer
  than the N run (start-up varied by more than N points take);
- *whole*: 2N ÷ the whole 2N run, start-up included.

Printed with the ratio of each engine's sending and steady rates to the DirectRunner's,
the seconds from ``run()`` to the first request, and the load average. The load of a
shared machine drifts within minutes, so before each engine's runs the DirectRunner
writes 2N points once more and the engine's sending rate is also given as a ratio to
that neighbouring figure (``ratio b``). Every process
the benchmark starts (emulator, job server, worker pool, cluster) it stops. An engine
that is not here is printed as not run, with the fetch's reason.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Callable, Dict, Iterator, List, Optional

import apache_beam as beam
import grpc
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability import job_server
from apache_beam.runners.runner import PipelineState

from beam_batchput.writers import WRITERS
from benchmarks.quota import EmulatorProcess
from benchmarks.workloads import workloads
from tests.conftest import stop_process_group
from tests.runners import engines, flink_cluster

DIRECT = "DirectRunner (FnApiRunner)"
# Engine → the test engine it needs (tests.runners.engines.NEEDS), None for none.
ENGINES = {DIRECT: None,
           "Prism": "prism",
           "Flink embedded, parallelism 1": "flink",
           "Flink embedded, parallelism 2": "flink",
           "Flink standalone, parallelism 2": "flink-standalone"}
DIRECT_FLAGS = ["--runner=FnApiRunner"]
READY_SECONDS = 180.0
RUN_SECONDS = 900.0


def _inspect(endpoint_url: str, name: str, method: str = "GET") -> object:
    request = urllib.request.Request("%s/_emulator/%s" % (endpoint_url, name), method=method,
                                     data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)


def _points(request: Dict[str, object]) -> int:
    return sum(len(entry["propertyValues"]) for entry in request["request"]["entries"])


def measure(pipeline: beam.Pipeline, n: int, endpoint_url: str) -> Dict[str, float]:
    """Runs ``pipeline`` (n points) on an emptied emulator; its timings from the log."""
    _inspect(endpoint_url, "reset", "POST")
    started = time.time()
    result = pipeline.run()
    state = result.wait_until_finish(duration=int(RUN_SECONDS * 1000))
    wall = time.time() - started
    if state != PipelineState.DONE:
        with contextlib.suppress(NotImplementedError, grpc.RpcError, RuntimeError):
            result.cancel()
        raise RuntimeError("the pipeline ended in state %s after %.0f s" % (state, wall))
    log = _inspect(endpoint_url, "requests")
    stored = sum(len(values) for values in
                 _inspect(endpoint_url, "store")["iotsitewise"]["values"].values())
    refused = [r for r in log if r["status"] != 200 or (r["response"] or {}).get("errorEntries")]
    if stored != n or refused:
        raise RuntimeError("the emulator stored %d of %d points (%d requests refused): the run "
                           "measures nothing" % (stored, n, len(refused)))
    first = min(r["receivedAt"] for r in log)
    return {"wall": wall, "first_request": first - started, "requests": len(log),
            "sending": sum(_points(r) for r in log) / (max(r["answeredAt"] for r in log) - first)}


def rates(build: Callable[[int], beam.Pipeline], n: int, endpoint_url: str) -> Dict[str, float]:
    """The three rates (module docstring) from runs at n and 2n points."""
    small = measure(build(n), n, endpoint_url)
    large = measure(build(2 * n), 2 * n, endpoint_url)
    difference = large["wall"] - small["wall"]
    # None when the start-up varied by more than n points take: no steady rate to be had.
    return {"sending": large["sending"], "steady": n / difference if difference > 0 else None,
            "whole": 2 * n / large["wall"], "first_request": large["first_request"],
            "requests": large["requests"]}


def _wait_for_port(port: int, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("%s (exit %s) did not listen on %d in %.0f s"
                               % (what, process.poll(), port, READY_SECONDS))
        time.sleep(0.2)


@contextlib.contextmanager
def _session(command: List[str], log_path: str) -> Iterator[subprocess.Popen]:
    """``command`` in a process group of its own, stopped (TERM, then KILL) at the end."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        yield process
    finally:
        stop_process_group(process, 15, 5)


@contextlib.contextmanager
def worker_pool(folder: str) -> Iterator[str]:
    """Beam's Python worker pool (one process per worker it is asked for)."""
    port = flink_cluster.free_port()
    log_path = os.path.join(folder, "worker-pool-%d.log" % port)
    with _session([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                   "--service_port=%d" % port], log_path) as pool:
        _wait_for_port(port, pool, "the worker pool")
        yield "127.0.0.1:%d" % port


@contextlib.contextmanager
def flink_job_server(flink_master: str, folder: str, extra: List[str] = ()) -> Iterator[str]:
    """The fetched Flink job server on a port from the OS; yields its job endpoint."""
    port = flink_cluster.free_port()
    log_path = os.path.join(folder, "job-server-%d.log" % port)
    with _session(engines.job_server_command("flink-job-server")
                  + ["--flink-master=%s" % flink_master, "--job-host=127.0.0.1",
                     "--job-port=%d" % port, "--artifact-port=0", "--expansion-port=0"]
                  + list(extra), log_path) as server:
        with grpc.insecure_channel("127.0.0.1:%d" % port) as channel:
            try:
                grpc.channel_ready_future(channel).result(timeout=READY_SECONDS)
            except grpc.FutureTimeoutError:
                with open(log_path, errors="replace") as handle:
                    raise RuntimeError("the Flink job server (exit %s) did not answer in %.0f s:"
                                       "\n%s" % (server.poll(), READY_SECONDS,
                                                 handle.read()[-3000:])) from None
        yield "127.0.0.1:%d" % port


@contextlib.contextmanager
def _beams_job_servers_stopped() -> Iterator[None]:
    """Stops, when the block ends, the job servers Beam starts for a runner in it (Prism's
    binary); Beam itself would stop them only when this interpreter exits."""
    started: List[job_server.StopOnExitJobServer] = []
    start = job_server.StopOnExitJobServer.start

    def recording_start(server: job_server.StopOnExitJobServer) -> str:
        started.append(server)
        return start(server)

    job_server.StopOnExitJobServer.start = recording_start
    try:
        yield
    finally:
        job_server.StopOnExitJobServer.start = start
        for server in started:
            server.stop()


def _flink_flags(endpoint: str, pool: str, parallelism: int) -> List[str]:
    return ["--runner=PortableRunner", "--job_endpoint=%s" % endpoint,
            "--parallelism=%d" % parallelism, "--sdk_worker_parallelism=%d" % parallelism,
            "--environment_type=EXTERNAL", "--environment_config=%s" % pool]


@contextlib.contextmanager
def engine_flags(name: str, folder: str) -> Iterator[List[str]]:
    """The pipeline flags of engine ``name``, with whatever it needs running meanwhile."""
    if name == DIRECT:
        yield DIRECT_FLAGS
    elif name == "Prism":
        with _beams_job_servers_stopped():
            yield ["--runner=PrismRunner", "--prism_location=%s" % engines.prism_path()]
    elif name.startswith("Flink embedded"):
        with worker_pool(folder) as pool, flink_job_server("[local]", folder) as endpoint:
            yield _flink_flags(endpoint, pool, int(name[-1]))
    else:
        pool = flink_cluster.free_port()
        cluster_folder = os.path.join(folder, "cluster")
        with flink_cluster.cluster(cluster_folder, slots=2, worker_pool_port=pool) as ports, \
                flink_job_server("127.0.0.1:%d" % ports["rest_port"], folder, [
                    "--artifacts-dir=%s" % os.path.join(cluster_folder, "artifacts")]) as endpoint:
            yield _flink_flags(endpoint, "127.0.0.1:%d" % pool, 2)


def _worker_environment() -> None:
    """What the worker processes inherit: the emulator's credentials, this checkout on
    PYTHONPATH, this interpreter first on PATH (the worker pool starts ``python``)."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    for variable, first in (("PYTHONPATH", engines.ROOT),
                            ("PATH", os.path.dirname(sys.executable))):
        paths = [p for p in os.environ.get(variable, "").split(os.pathsep) if p]
        os.environ[variable] = os.pathsep.join([first] + [p for p in paths if p != first])


def main(argv: Optional[List[str]] = None) -> Dict[str, object]:
    """Runs the benchmark and prints its table; returns each engine's rates (or why it
    did not run)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20000)
    parser.add_argument("--engine", action="append", choices=list(ENGINES),
                        help="run only these (repeatable); the DirectRunner always runs")
    args = parser.parse_args(argv)
    # A TERM (timeout, Ctrl-C of a wrapper) unwinds like an error, so every process this
    # started is stopped on the way out.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    chosen = [name for name in ENGINES if name == DIRECT or not args.engine
              or name in args.engine]
    _worker_environment()
    folder = tempfile.mkdtemp(prefix="bench-engines-")
    load = [os.getloadavg()[0]]
    emulator = EmulatorProcess(faults={"iotsitewise": {"latency_ms": 50}})
    records = next(w for w in workloads() if w.service == "iotsitewise").records

    def build(flags: List[str]) -> Callable[[int], beam.Pipeline]:
        def pipeline_for(n: int) -> beam.Pipeline:
            pipeline = beam.Pipeline(options=PipelineOptions(flags))
            _ = (pipeline | beam.Impulse() | beam.FlatMap(lambda _: records(n))
                 | WRITERS["iotsitewise"].writer(region_name="us-east-1",
                                                 endpoint_url=emulator.endpoint_url))
            return pipeline
        return pipeline_for

    results: Dict[str, object] = {}
    try:
        for name in chosen:
            reason = ENGINES[name] and engines.missing(ENGINES[name])
            if reason:
                results[name] = "not run: %s" % reason[:150]
                continue
            with engine_flags(name, folder) as flags:
                # The DirectRunner again, right before this engine (its services already
                # up): the load of a shared machine drifts within minutes.
                beside = None if name == DIRECT else measure(
                    build(DIRECT_FLAGS)(2 * args.points), 2 * args.points,
                    emulator.endpoint_url)["sending"]
                results[name] = rates(build(flags), args.points, emulator.endpoint_url)
                results[name]["beside"] = beside or results[name]["sending"]
            load.append(os.getloadavg()[0])
    finally:
        emulator.stop()
        signal.signal(signal.SIGTERM, previous)
    base = results[DIRECT]
    print("WriteToSiteWise, 50 ms per request, %d and %d points; 1-minute load average %s "
          "(%d cores)" % (args.points, 2 * args.points, " → ".join("%.1f" % x for x in load),
                          os.cpu_count()))
    print("%-32s %9s %9s %9s %8s %8s %8s %9s %8s" % (
        "engine", "sending", "steady", "whole", "ratio s", "ratio st", "first s",
        "DR beside", "ratio b"))
    for name, rate in results.items():
        if isinstance(rate, str):
            print("%-32s %s" % (name, rate))
            continue
        steady = rate["steady"] and base["steady"]
        print("%-32s %9.0f %9s %9.0f %8.2f %8s %8.1f %9.0f %8.2f" % (
            name, rate["sending"], "%.0f" % rate["steady"] if rate["steady"] else "-",
            rate["whole"], rate["sending"] / base["sending"],
            "%.2f" % (rate["steady"] / base["steady"]) if steady else "-",
            rate["first_request"], rate["beside"], rate["sending"] / rate["beside"]))
    print("(points/s; sending: first request to last answer at the emulator, 2N run; steady: "
          "N / (t(2N) - t(N)); whole: 2N run, start-up included; ratios to the DirectRunner's "
          "sending and steady rates; first s: run() to the first request, 2N run; DR beside: "
          "the DirectRunner's sending rate in a 2N run just before the engine's, ratio b: "
          "sending to it)")
    return results


if __name__ == "__main__":
    main()
