"""The benchmark harness: ``python -m benchmarks.run`` (or ``make bench``).

Prints a table of figures, each a ratio taken in this one run, with a verdict
against its target, writes ``benchmarks/results.json`` and a throughput plot
``benchmarks/throughput.svg``. ``--quick`` runs tiny sizes (the test suite
does, so the harness cannot rot); its verdicts mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from beam_batchput.writers import WRITERS
from benchmarks import stub
from benchmarks.workloads import Workload, workloads

HERE = os.path.dirname(os.path.abspath(__file__))


def _pipeline() -> beam.Pipeline:
    return beam.Pipeline(runner="DirectRunner", options=PipelineOptions(flags=[]))


def run_writer(workload: Workload, n: int, client_factory: Callable[[], Any],
               **writer_kwargs: Any) -> float:
    """Runs the workload's writer over n records; returns process CPU seconds."""
    pipeline = _pipeline()
    records = workload.records
    _ = (pipeline | beam.Impulse() | "Records" >> beam.FlatMap(lambda _: records(n))
         | WRITERS[workload.service].writer(client_factory=client_factory, **writer_kwargs))
    start = time.process_time()
    pipeline.run().wait_until_finish()
    return time.process_time() - start


def run_source_only(workload: Workload, n: int) -> float:
    """CPU seconds of the same pipeline without the writer: the source's share."""
    pipeline = _pipeline()
    records = workload.records
    _ = (pipeline | beam.Impulse() | "Records" >> beam.FlatMap(lambda _: records(n))
         | beam.Map(lambda record: None))
    start = time.process_time()
    pipeline.run().wait_until_finish()
    return time.process_time() - start


def fill(n_by_service: Dict[str, int]) -> List[Dict[str, Any]]:
    """Figure 1: requests sent ÷ the packing lower bound, per writer."""
    rows = []
    for workload in workloads():
        n = n_by_service.get(workload.service, 1000)
        name = "fill-" + workload.service
        stub.reset(name)
        run_writer(workload, n, stub.StubClientFactory(workload.service, name))
        sent, bound = stub.requests_sent(name), workload.lower_bound(n)
        rows.append({"figure": "fill", "service": workload.service, "records": n,
                     "requests": sent, "lower_bound": bound, "ratio": sent / bound,
                     "target": "<= 1.05", "met": sent / bound <= 1.05})
    return rows


def hand_loop_sitewise(records: List[Dict[str, Any]], client: Any) -> None:
    """What users write by hand: group by property, 10 TQVs an entry, 10 entries a call."""
    by_alias: Dict[str, List[Dict[str, Any]]] = {}
    for record in records:
        seconds = int(record["timestamp"])
        by_alias.setdefault(record["property_alias"], []).append({
            "value": {"doubleValue": record["value"]},
            "timestamp": {"timeInSeconds": seconds,
                          "offsetInNanos": int((record["timestamp"] - seconds) * 1e9)},
            "quality": "GOOD"})
    entries = []
    for alias, values in by_alias.items():
        for i in range(0, len(values), 10):
            entries.append({"entryId": "e%d" % len(entries), "propertyAlias": alias,
                            "propertyValues": values[i:i + 10]})
    for i in range(0, len(entries), 10):
        client.batch_put_asset_property_value(entries=entries[i:i + 10])


def cpu_overhead(n: int) -> Dict[str, Any]:
    """Figure 2: CPU µs per point, connector on the DirectRunner vs a hand loop."""
    workload = next(w for w in workloads() if w.service == "iotsitewise")
    connector = run_writer(workload, n, stub.StubClientFactory("iotsitewise", "cpu"))
    source = run_source_only(workload, n)
    records = list(workload.records(n))
    client = stub.stub_client("iotsitewise", "hand")
    start = time.process_time()
    hand_loop_sitewise(records, client)
    hand = time.process_time() - start
    net = max(connector - source, 0.0)
    return {"figure": "cpu", "records": n, "connector_us": 1e6 * connector / n,
            "connector_minus_source_us": 1e6 * net / n, "hand_loop_us": 1e6 * hand / n,
            "ratio": net / hand, "target": "<= 1.5", "met": net / hand <= 1.5}


def _child_peak_rss(n: int) -> int:
    out = subprocess.run([sys.executable, "-m", "benchmarks.run", "--memory-child", str(n)],
                         check=True, capture_output=True, text=True, cwd=os.path.dirname(HERE))
    requests, peak = out.stdout.strip().splitlines()[-2:]
    if int(requests) < n // 100:
        raise RuntimeError("the memory run of %d points sent only %s requests" % (n, requests))
    return int(peak)


def memory(small: int, large: int) -> Dict[str, Any]:
    """Figure 4: peak RSS writing ``large`` points vs ``small`` points."""
    rss_small, rss_large = _child_peak_rss(small), _child_peak_rss(large)
    return {"figure": "memory", "small": small, "large": large, "rss_small_mb": rss_small / 1024,
            "rss_large_mb": rss_large / 1024, "ratio": rss_large / rss_small,
            "target": "<= 1.2", "met": rss_large / rss_small <= 1.2}


def _memory_child(n: int) -> None:
    workload = next(w for w in workloads() if w.service == "iotsitewise")
    run_writer(workload, n, stub.StubClientFactory("iotsitewise", "memory"))
    # The requests sent prove the records went through; then the peak RSS (KiB).
    print(stub.requests_sent("memory"))
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def table(rows: List[Dict[str, Any]]) -> str:
    """The figures as a Markdown table."""
    lines = ["| figure | detail | value | target | verdict |", "|---|---|---|---|---|"]
    for row in rows:
        detail = {k: v for k, v in row.items()
                  if k not in ("figure", "ratio", "target", "met")}
        shown = ", ".join("%s=%s" % (k, ("%.1f" % v) if isinstance(v, float) else v)
                          for k, v in detail.items())
        lines.append("| %s | %s | %.3f | %s | %s |" % (
            row["figure"], shown, row["ratio"], row["target"],
            "met" if row["met"] else "MISSED"))
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the test suite")
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--output", default=HERE, help="folder for results.json and the plot")
    args = parser.parse_args(argv)
    if args.memory_child is not None:
        _memory_child(args.memory_child)
        return []
    quick = args.quick
    rows: List[Dict[str, Any]] = []
    rows += fill({w.service: 200 for w in workloads()} if quick else
                 {"iotsitewise": 50_000, "iottwinmaker": 50_000, "datazone": 5_000,
                  "connect": 5_000, "iotevents-data": 10_000})
    rows.append(cpu_overhead(2000 if quick else 50_000))
    rows.append(memory(*((2000, 4000) if quick else (100_000, 1_000_000))))
    print("machine: %s, %d cores, Python %s" % (platform.machine(), os.cpu_count() or 0,
                                                platform.python_version()))
    print(table(rows))
    with open(os.path.join(args.output, "results.json"), "w") as handle:
        json.dump({"quick": quick, "date": time.strftime("%Y-%m-%d"), "rows": rows}, handle,
                  indent=2)
    return rows


if __name__ == "__main__":
    main()
