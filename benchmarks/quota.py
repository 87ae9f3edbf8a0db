"""Quota benchmarks: writers against an emulator quota, and pooled retries.

``quota_figures`` runs, in one go and against one emulator process: the
writer's unthrottled request rate (to set the quota to a quarter of it), then
for each of fixed concurrency (the writer before adaptive sending),
boto3's ``adaptive`` retry mode and the adaptive writer, a run of at least
``seconds`` against that quota; then four worker processes sharing it.
Accepted and refused requests are the emulator's own counts. Each writer runs
in a process of its own (``python -m benchmarks.quota --worker ...``), which
samples its memory.

``retry_packing`` writes with one entry in ten failing once with a retryable
code, and compares the requests sent with the packing bound of the first pass
plus that of the entries retried.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Any, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
_SERVICE = "iotsitewise"
# Properties per worker: 100 points of each make one full request.
_PROPERTIES = 100
_MODES = {
    "fixed": "fixed concurrency (before)",
    "boto3-adaptive": "boto3 adaptive retry mode",
    "adaptive": "adaptive concurrency (new)",
}


class EmulatorProcess:
    """The emulator in a process of its own, with faults and quotas from files."""

    def __init__(self, faults: Optional[Dict[str, Any]] = None,
                 quotas: Optional[Dict[str, Any]] = None) -> None:
        folder = tempfile.mkdtemp(prefix="bench-emulator-")
        argv = [sys.executable, "-m", "beam_batchput.emulator", "--port", "0"]
        for flag, document in (("--faults", faults), ("--quotas", quotas)):
            if document is not None:
                path = os.path.join(folder, flag.strip("-") + ".json")
                with open(path, "w") as handle:
                    json.dump(document, handle)
                argv += [flag, path]
        self._process = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
        self.endpoint_url = self._process.stdout.readline().strip()
        if not self.endpoint_url.startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError("the emulator did not start: %r" % self.endpoint_url)

    def call(self, method: str, name: str, document: Any = None) -> Any:
        data = None if document is None else json.dumps(document).encode()
        request = urllib.request.Request(self.endpoint_url + "/_emulator/" + name, data=data,
                                         method=method)
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)


# The worker process


def _rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def _counters(outcome: Any) -> Tuple[Dict[str, int], int]:
    """The writer's counters of a finished run, and its dead letters of every stage."""
    from beam_batchput.pipelines.options import pipeline_metrics

    counters = {r.key.metric.name: r.committed
                for r in pipeline_metrics(outcome).query()["counters"]
                if r.key.metric.namespace == "beam_batchput." + _SERVICE}
    return counters, sum(v for k, v in counters.items() if k.startswith("dead_letters_"))


def _records(n: int, worker: int, properties: int):
    base = time.time() - 3600
    for i in range(n):
        yield {"property_alias": "/quota/w%d/p%05d" % (worker, i % properties),
               "value": float(i), "timestamp": base + i / 1000.0}


def worker(endpoint_url: str, mode: str, records: int, index: int, max_in_flight: int) -> None:
    """Writes ``records`` points with the writer of ``mode``; prints a JSON summary."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from botocore.config import Config

    from beam_batchput import ClientConfig
    from beam_batchput.writers import WRITERS

    boto_config = Config(retries={"mode": "adaptive", "total_max_attempts": 3}) \
        if mode == "boto3-adaptive" else None
    client = ClientConfig(region_name="us-east-1", endpoint_url=endpoint_url,
                          boto_config=boto_config)
    samples: List[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            samples.append(_rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    pipeline = beam.Pipeline(runner="DirectRunner", options=PipelineOptions(flags=[]))
    _ = (pipeline | beam.Impulse()
         | beam.FlatMap(lambda _: _records(records, index, _PROPERTIES))
         | WRITERS[_SERVICE].writer(client=client, max_in_flight=max_in_flight,
                                    adaptive_concurrency=(mode == "adaptive")))
    start = time.monotonic()
    outcome = pipeline.run()
    outcome.wait_until_finish()
    elapsed = time.monotonic() - start
    done.set()
    sampler.join()
    counters, dead = _counters(outcome)
    print(json.dumps({"mode": mode, "elapsed": elapsed,
                      "written": counters.get("records_written", 0), "dead_letters": dead,
                      "throttled_seconds": counters.get("cumulativeThrottlingSeconds", 0),
                      "rss_mb": samples}))


def streaming_worker(endpoint_url: str, seconds: float, points_per_second: float,
                     max_in_flight: int) -> None:
    """A streaming pipeline (``PeriodicImpulse``, DirectRunner's portable engine)
    generating ``points_per_second`` for ``seconds``, written to SiteWise; prints
    a JSON summary with RSS samples (monotonic seconds since the start, MB)."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    from apache_beam.transforms.periodicsequence import PeriodicImpulse

    from beam_batchput import ClientConfig
    from beam_batchput.writers import WRITERS

    ticks_per_second = 20.0
    per_tick = max(1, int(round(points_per_second / ticks_per_second)))
    client = ClientConfig(region_name="us-east-1", endpoint_url=endpoint_url)
    samples: List[List[float]] = []
    done = threading.Event()
    began = time.monotonic()

    def sample() -> None:
        while not done.wait(0.5):
            samples.append([time.monotonic() - began, _rss_mb()])

    start = time.time()

    def points(tick: float):
        base = int(round((tick - start) * ticks_per_second)) * per_tick
        for i in range(per_tick):
            n = base + i
            yield {"property_alias": "/backpressure/p%03d" % (n % _PROPERTIES),
                   "value": float(n), "timestamp": tick + i / (per_tick * ticks_per_second)}

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    options = PipelineOptions(flags=[])
    options.view_as(StandardOptions).streaming = True
    pipeline = beam.Pipeline(runner="FnApiRunner", options=options)
    _ = (pipeline
         | PeriodicImpulse(start_timestamp=start, stop_timestamp=start + seconds,
                           fire_interval=1.0 / ticks_per_second)
         | beam.FlatMap(points)
         | WRITERS[_SERVICE].writer(client=client, max_in_flight=max_in_flight))
    outcome = pipeline.run()
    outcome.wait_until_finish()
    elapsed = time.monotonic() - began
    done.set()
    sampler.join()
    counters, dead = _counters(outcome)
    print(json.dumps({"elapsed": elapsed, "records_in": counters.get("records_in", 0),
                      "written": counters.get("records_written", 0), "dead_letters": dead,
                      "rss_mb": samples}))


def backpressure_memory(seconds: float = 60.0, quota_rps: float = 5.0,
                        latency_ms: float = 50.0) -> List[Dict[str, Any]]:
    """Memory of a streaming pipeline whose input outpaces the service, and of one
    it does not: points generated for ``seconds`` at twice and at half what a
    quota of ``quota_rps`` full requests (100 points each) takes. The emulator's
    admitted requests are polled every second to follow the backlog."""
    rows = []
    service_points = quota_rps * 100
    for label, factor in (("input 2x the service", 2.0), ("input 0.5x the service", 0.5)):
        emulator = EmulatorProcess(faults={_SERVICE: {"latency_ms": latency_ms}},
                                   quotas={_SERVICE: {"requests_per_second": quota_rps,
                                                      "items_per_second": None,
                                                      "resource_items_per_second": None}})
        try:
            env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
            process = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.quota", "--streaming-worker",
                 emulator.endpoint_url, str(seconds), str(service_points * factor), "8"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
                env=env)
            admitted: List[List[float]] = []
            began = time.monotonic()
            while process.poll() is None:
                time.sleep(1.0)
                stats = emulator.call("GET", "quota_stats").get(_SERVICE, {})
                admitted.append([time.monotonic() - began, stats.get("admitted", 0)])
            result = _finish(process)
            stats = emulator.call("GET", "quota_stats")[_SERVICE]
        finally:
            emulator.stop()
        rss = result["rss_mb"]
        # While the input runs: early = its second sixth, late = its last sixth.
        early = [mb for t, mb in rss if seconds / 6 <= t < seconds / 3]
        late = [mb for t, mb in rss if 5 * seconds / 6 <= t < seconds]
        ratio = max(late) / max(early) if early and late else float("nan")
        generated = service_points * factor * seconds
        sent_by_end = max([n for t, n in admitted if t <= seconds] or [0])
        rows.append({
            "figure": "backpressure-memory", "case": label,
            "input_points_per_second": service_points * factor,
            "service_points_per_second": service_points, "input_seconds": seconds,
            "run_seconds": result["elapsed"], "records_in": result["records_in"],
            "written": result["written"], "dead_letters": result["dead_letters"],
            "requests_admitted_by_input_end": sent_by_end,
            # At least this many points not yet sent (requests may carry fewer
            # than 100); negative: the service kept up.
            "backlog_points_at_input_end": generated - 100 * sent_by_end,
            "refused_share": stats["throttled"] / max(1, stats["admitted"] + stats["throttled"]),
            "rss_early_mb": max(early) if early else None,
            "rss_late_mb": max(late) if late else None,
            "ratio": ratio, "target": "(report) late / early RSS; 0 dead letters",
            "met": result["dead_letters"] == 0 and result["written"] == result["records_in"]})
    return rows


def _start_worker(endpoint_url: str, mode: str, records: int, index: int,
                  max_in_flight: int) -> subprocess.Popen:
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.quota", "--worker", endpoint_url, mode, str(records),
         str(index), str(max_in_flight)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT, env=env)


def _finish(process: subprocess.Popen) -> Dict[str, Any]:
    out, _ = process.communicate(timeout=1800)
    if process.returncode != 0:
        raise RuntimeError("a benchmark worker failed with status %d" % process.returncode)
    return json.loads(out.strip().splitlines()[-1])


def _memory_ratio(samples: List[float]) -> float:
    """Peak RSS of the second half of the run over the peak of its second quarter."""
    if len(samples) < 4:
        return 1.0
    quarter = len(samples) // 4
    early = max(samples[quarter:2 * quarter])
    return max(samples[2 * quarter:]) / early


def _run(emulator: EmulatorProcess, quota: Optional[Dict[str, Any]], modes: List[str],
         records: int, max_in_flight: int) -> Dict[str, Any]:
    emulator.call("POST", "reset", {})
    # The request bucket only: the data-point buckets off.
    emulator.call("POST", "quotas", {_SERVICE: dict(quota, items_per_second=None,
                                                    resource_items_per_second=None)})
    workers = [_start_worker(emulator.endpoint_url, mode, records, index, max_in_flight)
               for index, mode in enumerate(modes)]
    results = [_finish(w) for w in workers]
    stats = emulator.call("GET", "quota_stats")[_SERVICE]
    log = emulator.call("GET", "requests") if len(modes) > 1 else []
    span = max(1e-9, (stats["last_admitted"] or 0) - (stats["first_admitted"] or 0))
    sent = stats["admitted"] + stats["throttled"]
    return {"workers": results, "accepted_per_second": stats["admitted"] / span,
            "refused_share": stats["throttled"] / max(1, sent), "admitted": stats["admitted"],
            "refused": stats["throttled"], "span": span, "log": log}


def quota_figures(seconds: float, max_in_flight: int = 8, latency_ms: float = 50.0,
                  calibration_records: int = 30_000, modes: Optional[List[str]] = None,
                  workers: int = 4) -> List[Dict[str, Any]]:
    """The quota figures; see the module docstring. ``modes`` and ``workers``
    narrow them (the quick harness runs fewer)."""
    emulator = EmulatorProcess(faults={_SERVICE: {"latency_ms": latency_ms}})
    try:
        # An unlimited bucket counts the requests: the unthrottled rate.
        free = _run(emulator, {"requests_per_second": 1e9}, ["fixed"], calibration_records,
                    max_in_flight)
        unthrottled = free["accepted_per_second"]
        quota = max(1.0, unthrottled / 4.0)
        # Enough points for ``seconds`` at the quota, 100 points a request.
        records = int(quota * seconds * 100)
        config = {"requests_per_second": quota}
        rows: List[Dict[str, Any]] = []
        for mode in (list(_MODES) if modes is None else modes):
            run = _run(emulator, config, [mode], records, max_in_flight)
            rows.append(_quota_row("quota", mode, run, quota, unthrottled))
        shared = _run(emulator, config, ["adaptive"] * workers, records // workers,
                      max_in_flight)
        rows.append(_quota_row("quota-%d-workers" % workers, "adaptive", shared, quota,
                               unthrottled))
        rows.append(_evenness("quota-%d-workers-evenness" % workers, shared, workers))
    finally:
        emulator.stop()
    return rows


def _evenness(figure: str, run: Dict[str, Any], workers: int) -> Dict[str, Any]:
    """Requests accepted per worker while all of them were sending.

    The emulator's log is in arrival order: from the last worker's first
    request to the first worker's last one, every worker was running, so
    start-up and wind-down (when fewer share the quota) are left out.
    """
    first: Dict[int, int] = {}
    last: Dict[int, int] = {}
    accepted: Dict[int, List[int]] = {w: [] for w in range(workers)}
    for record in run["log"]:
        if record["operation"] != "BatchPutAssetPropertyValue" or not record["request"]:
            continue
        alias = record["request"]["entries"][0]["propertyAlias"]
        index = int(alias.split("/")[2][1:])
        first.setdefault(index, record["seq"])
        last[index] = record["seq"]
        if record["status"] == 200:
            accepted[index].append(record["seq"])
    low, high = max(first.values()), min(last.values())
    shares = [sum(1 for seq in accepted[w] if low <= seq <= high) for w in range(workers)]
    jain = sum(shares) ** 2 / (workers * sum(n * n for n in shares)) if any(shares) else 0.0
    ratio = min(shares) / max(shares) if max(shares) else 0.0
    return {"figure": figure, "writer": _MODES["adaptive"],
            "accepted_requests_while_all_ran": shares, "jain_index": jain, "ratio": ratio,
            "target": "slowest / fastest >= 0.8, Jain's index >= 0.95",
            "met": ratio >= 0.8 and jain >= 0.95}


def _quota_row(figure: str, mode: str, run: Dict[str, Any], quota: float,
               unthrottled: float) -> Dict[str, Any]:
    workers = run["workers"]
    dead = sum(w["dead_letters"] for w in workers)
    memory = max(_memory_ratio(w["rss_mb"]) for w in workers)
    ratio = run["accepted_per_second"] / quota
    met = (ratio >= 0.9 and run["refused_share"] <= 0.10 and dead == 0 and memory <= 1.2)
    return {"figure": figure, "writer": _MODES[mode], "quota_rps": quota,
            "unthrottled_rps": unthrottled, "seconds": max(w["elapsed"] for w in workers),
            "accepted_rps": run["accepted_per_second"], "refused_share": run["refused_share"],
            "dead_letters": dead, "memory_ratio": memory, "ratio": ratio,
            "target": "accepted >= 0.9 quota, refused <= 10%, 0 dead letters, memory <= 1.2",
            "met": met}


def retry_packing(records: int, properties: int = _PROPERTIES) -> Dict[str, Any]:
    """Requests with one entry in ten failing once, against the packing bound."""
    emulator = EmulatorProcess(faults={_SERVICE: {"entry_retryable_error_rate": 0.1,
                                                  "seed": 16}})
    try:
        result = _finish(_start_worker(emulator.endpoint_url, "adaptive", records, 0, 8))
        log = emulator.call("GET", "requests")
    finally:
        emulator.stop()
    writes = [r for r in log if r["operation"] == "BatchPutAssetPropertyValue"]
    retried: Dict[str, int] = {}
    seen = set()
    retry_requests = 0
    for record in writes:
        ids = {e["entryId"] for e in record["request"]["entries"]}
        retry_requests += bool(ids & seen)
        seen |= ids
        failed = {e["entryId"] for e in (record.get("response") or {}).get("errorEntries", [])}
        for entry in record["request"]["entries"]:
            if entry["entryId"] in failed:
                alias = entry["propertyAlias"]
                retried[alias] = retried.get(alias, 0) + len(entry["propertyValues"])
    first = _bound([records // properties + (1 if p < records % properties else 0)
                    for p in range(properties)])
    bound = first + _bound(list(retried.values()))
    return {"figure": "retry-packing", "records": records, "requests": len(writes),
            "first_pass_bound": first, "retry_bound": bound - first,
            "requests_resending_an_entry": retry_requests,
            "dead_letters": result["dead_letters"], "ratio": len(writes) / bound,
            "target": "<= 1.1", "met": len(writes) / bound <= 1.1}


def _bound(points_per_property: List[int]) -> int:
    entries = sum(-(-n // 10) for n in points_per_property if n)
    return -(-entries // 10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", nargs=5, metavar=("ENDPOINT", "MODE", "RECORDS", "INDEX",
                                                      "MAX_IN_FLIGHT"))
    parser.add_argument("--streaming-worker", nargs=4, metavar=("ENDPOINT", "SECONDS",
                                                                 "POINTS_PER_SECOND",
                                                                 "MAX_IN_FLIGHT"))
    parser.add_argument("--backpressure", action="store_true",
                        help="run the backpressure memory figure alone")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="run the quota figures alone, each run this long")
    parser.add_argument("--modes", nargs="*", choices=sorted(_MODES),
                        help="the single writers to run (default: all; none: only the shared run)")
    args = parser.parse_args()
    if args.streaming_worker:
        from benchmarks import quota as _module

        endpoint, run_seconds, rate, flights = args.streaming_worker
        _module.streaming_worker(endpoint, float(run_seconds), float(rate), int(flights))
    elif args.backpressure:
        for row in backpressure_memory(args.seconds):
            print(json.dumps(row))
    elif not args.worker:
        for row in quota_figures(args.seconds, modes=args.modes):
            print(json.dumps(row))
    if args.worker:
        # Run from the importable module, so the tallies pickled into the
        # pipeline are this module's, not copies of __main__'s.
        from benchmarks import quota as _module

        endpoint, mode, n, index, flights = args.worker
        _module.worker(endpoint, mode, int(n), int(index), int(flights))
