"""WriteToSiteWise at 50 ms per request on each engine, in one run: ``python -m
benchmarks.engines [--points N]``.

Engines: the DirectRunner's batch engine when it finds no Prism (``FnApiRunner``),
Prism (what the DirectRunner picks when it finds one), and Beam's Flink job server's
embedded cluster at parallelism 1 and 2 when ``make engines`` fetched the jar. Each
runs the same pipeline at N and 2N points; the steady rate is N over the difference,
so start-up cancels out (see ``benchmarks.run._rates``). Printed as points per second
and as the ratio to the DirectRunner's figure. An engine that is not here is printed
as not run, with the fetch's reason.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from typing import Callable, Dict, List, Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from beam_batchput.writers import WRITERS
from benchmarks.run import _EmulatorProcess, _rates
from benchmarks.workloads import workloads
from tests.runners import engines


def _engine_flags() -> Dict[str, Optional[List[str]]]:
    """Engine → flags, or None when the engine was not fetched."""
    prism = None if engines.missing("prism") else [
        "--runner=PrismRunner", "--prism_location=%s" % engines.prism_path()]
    flink = None if engines.missing("flink") else [
        "--runner=FlinkRunner", "--flink_master=[local]", "--flink_version=%s" % engines.FLINK_MINOR,
        "--flink_job_server_jar=%s" % engines.jar_path(engines.FLINK_JOB_SERVER),
        "--environment_type=LOOPBACK"]
    return {"DirectRunner (FnApiRunner)": ["--runner=FnApiRunner"],
            "Prism": prism,
            "Flink, parallelism 1": flink and flink + ["--parallelism=1"],
            "Flink, parallelism 2": flink and flink + ["--parallelism=2"]}


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20000)
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    emulator = _EmulatorProcess({"iotsitewise": {"latency_ms": 50}},
                                tempfile.mkdtemp(prefix="bench-engines-"))
    records = next(w for w in workloads() if w.service == "iotsitewise").records

    def build(flags: List[str]) -> Callable[[int], beam.Pipeline]:
        def pipeline_for(n: int) -> beam.Pipeline:
            pipeline = beam.Pipeline(options=PipelineOptions(flags))
            _ = (pipeline | beam.Impulse() | beam.FlatMap(lambda _: records(n))
                 | WRITERS["iotsitewise"].writer(region_name="us-east-1",
                                                 endpoint_url=emulator.endpoint_url))
            return pipeline
        return pipeline_for

    rates: Dict[str, Optional[Dict[str, float]]] = {}
    try:
        for name, flags in _engine_flags().items():
            rates[name] = None if flags is None else _rates(build(flags), args.points)
    finally:
        emulator.stop()
    base = rates["DirectRunner (FnApiRunner)"]["steady"]
    print("WriteToSiteWise, 50 ms per request, %d and %d points" % (args.points, 2 * args.points))
    print("%-28s %12s %12s %8s" % ("engine", "steady pts/s", "whole pts/s", "ratio"))
    for name, rate in rates.items():
        if rate is None:
            need = "flink" if name.startswith("Flink") else "prism"
            print("%-28s not run: %s" % (name, engines.missing(need)[:150]))
        else:
            print("%-28s %12.0f %12.0f %8.2f" % (name, rate["steady"], rate["whole"],
                                                 rate["steady"] / base))


if __name__ == "__main__":
    main()
