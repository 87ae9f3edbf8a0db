"""The demo: a wind farm's telemetry streamed to all five writers on the local emulator.

Run ``make demo`` (or ``beam-batchput-demo``, ``python -m beam_batchput.pipelines.demo``).
It starts the emulator
in-process with the farm's resources declared, streams synthetic telemetry for
``--duration_seconds`` (some of it bad, some of it for a turbine and an alarm
input that do not exist), writes it with the five writers, puts the dead
letters in Avro files, and prints a summary: records in, written, dead-lettered
by reason, requests sent, average fill per request, what the emulator stored,
and where the dead letters went.

Implementation note: the stream comes from ``PeriodicImpulse``, a splittable
source, which the DirectRunner's streaming engine cannot run; the demo runs on
the DirectRunner's portable engine (``FnApiRunner``) by default.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import time
from typing import Any, Dict, Iterator, List, Optional

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms import window
from apache_beam.transforms.periodicsequence import PeriodicImpulse

from beam_batchput.avro import WriteDeadLettersToAvro
from beam_batchput.pipelines import _cli
from beam_batchput.pipelines.options import WriterOptions, pipeline_metrics
from beam_batchput.writers import WRITERS

__all__ = ["DemoOptions", "build", "emulator_config", "main", "run", "summarize"]

_METRICS = "beam_batchput.demo"
_SITEWISE_METRICS = ("power_kw", "wind_speed_ms", "rotor_rpm", "status", "nacelle_temp_c")
_CONNECT_INSTANCE = "7f8e9d0c-1b2a-4c3d-8e4f-5a6b7c8d9e0f"
_DOMAIN = "dzd_windfarm"


class DemoOptions(PipelineOptions):
    """Options of the demo pipeline."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--duration_seconds", type=float, default=20.0,
                            help="How long the synthetic stream runs.")
        parser.add_argument("--turbines", type=int, default=12,
                            help="Turbines declared in the emulator (one more is not).")
        parser.add_argument("--ticks_per_second", type=float, default=2.0,
                            help="Telemetry rounds per second; each reads every turbine.")
        parser.add_argument("--window_seconds", type=float, default=10.0,
                            help="Fixed event-time windows of the stream.")
        parser.add_argument("--demo_output_dir", default=os.path.join("out", "demo"),
                            help="Where dead-letter Avro files are written.")
        parser.add_argument("--demo_seed", type=int, default=7,
                            help="Seed of the synthetic stream.")

    def validate_demo(self) -> None:
        """Raises ValueError naming the first bad option."""
        for name in ("duration_seconds", "ticks_per_second", "window_seconds"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError("--%s must be positive, got %r" % (name, value))
        if not 1 <= self.turbines <= 98:
            raise ValueError("--turbines must be in 1..98, got %r" % self.turbines)
        self.view_as(WriterOptions).validate_writer()

    def validated(self) -> "DemoOptions":
        """Checks the options; raises ValueError naming the first bad one."""
        self.validate_demo()
        return self


def _turbine(t: int) -> str:
    return "t%02d" % t


def alias(turbine: int, metric: str) -> str:
    """The SiteWise property alias of one turbine's metric."""
    return "/windfarm/north/%s/%s" % (_turbine(turbine), metric)


def emulator_config(turbines: int) -> Dict[str, Any]:
    """The farm's resources: turbines 1..N everywhere, turbine N+1 nowhere."""
    declared = range(1, turbines + 1)
    return {
        "iotsitewise": {"property_aliases": [alias(t, m) for t in declared
                                             for m in _SITEWISE_METRICS]},
        "iottwinmaker": {"workspaces": {"windfarm": {"entities": {
            "turbine-%s" % _turbine(t): {"components": {"nacelle": ["vibration_mm_s", "yaw_deg"]}}
            for t in declared}}}},
        "datazone": {"domains": {_DOMAIN: {"entities": {"telemetry01": "ASSET"}}}},
        "connect": {"instances": {_CONNECT_INSTANCE: {"data_tables": {"turbine_status": {
            "attributes": {"turbine": {"type": "TEXT", "primary": True},
                           "tick": {"type": "TEXT", "primary": True},
                           "state": {"type": "TEXT"}}}}}}},
        "iotevents-data": {"inputs": ["turbineAlarm"]},
    }


class _Telemetry(beam.DoFn):
    """One tick → readings of every turbine for every service, a few of them bad."""

    def __init__(self, turbines: int, seed: int) -> None:
        self._turbines = turbines
        self._seed = seed

    def process(self, tick: float) -> Iterator[Any]:
        rng = random.Random("%s/%s" % (self._seed, tick))  # nosec B311 # simulated telemetry
        alarms = 0
        for t in range(1, self._turbines + 2):  # the last turbine is not declared
            wind = max(0.0, rng.gauss(9.0, 3.0))
            at = tick + t / 1000.0
            readings = {"power_kw": min(3600.0, 0.5 * wind ** 3 * 2.2),
                        "wind_speed_ms": round(wind, 2), "rotor_rpm": int(wind * 1.6),
                        "status": "RUNNING" if wind > 3 else "IDLE",
                        "nacelle_temp_c": int(rng.gauss(41, 4))}
            for metric, value in readings.items():
                record = {"property_alias": alias(t, metric), "value": value, "timestamp": at}
                roll = rng.random()
                if roll < 0.005:
                    record["value"] = 5e12                    # outside SiteWise's double range
                elif roll < 0.01:
                    record["timestamp"] = tick - 30 * 86400  # older than 7 days
                elif roll < 0.013:
                    del record["property_alias"]             # names no property
                yield self._out("iotsitewise", record, tick)
            yield self._out("iottwinmaker", {
                "workspace_id": "windfarm", "entity_id": "turbine-%s" % _turbine(t),
                "component_name": "nacelle", "property_name": "vibration_mm_s",
                "value": round(abs(rng.gauss(2.5, 0.8)), 3), "timestamp": at}, tick)
            yield self._out("connect", {
                "instance_id": _CONNECT_INSTANCE, "data_table_id": "turbine_status",
                "attribute_name": "state", "value": readings["status"],
                "primary_values": {"turbine": _turbine(t), "tick": "%.3f" % tick}}, tick)
            if wind > 13 and alarms < 3:
                alarms += 1
                yield self._out("iotevents-data", {
                    "input_name": "turbineAlarm" if rng.random() > 0.1 else "turbineAlarmV2",
                    "payload": {"turbine": _turbine(t), "wind_ms": round(wind, 2)},
                    "timestamp": at}, tick)
        yield self._out("datazone", {
            "domain_id": _DOMAIN, "entity_type": "ASSET", "entity_id": "telemetry01",
            "form_name": "completeness", "type_identifier": "amazon.datazone.DataQualityResultFormType",
            "timestamp": tick, "content": {"passingPercentage": round(rng.uniform(95, 100), 2)}},
            tick)

    @staticmethod
    def _out(service: str, record: Dict[str, Any], tick: float) -> TaggedOutput:
        return TaggedOutput(service, window.TimestampedValue(record, tick))


def build(pipeline: beam.Pipeline, options: DemoOptions) -> None:
    """Adds the demo's transforms to ``pipeline``."""
    start = time.time()
    services = sorted(WRITERS)
    streams = (pipeline
               | "Ticks" >> PeriodicImpulse(start_timestamp=start,
                                            stop_timestamp=start + options.duration_seconds,
                                            fire_interval=1.0 / options.ticks_per_second)
               | "Telemetry" >> beam.ParDo(_Telemetry(options.turbines, options.demo_seed))
               .with_outputs(*services))
    writer_kwargs = options.view_as(WriterOptions).writer_kwargs()
    failed = []
    for service in services:
        info = WRITERS[service]
        result = (streams[service]
                  | "Window-%s" % info.short_name >> beam.WindowInto(
                      window.FixedWindows(options.window_seconds))
                  | "Write-%s" % info.short_name >> info.writer(**writer_kwargs))
        failed.append(result.failed)
    dead = tuple(failed) | "AllDeadLetters" >> beam.Flatten()
    _ = dead | "CountReasons" >> beam.Map(_count_reason)
    _ = dead | "DeadLettersToAvro" >> WriteDeadLettersToAvro(
        os.path.join(options.demo_output_dir, "dead_letters"), window_seconds=options.window_seconds)


def _count_reason(letter: Any) -> None:
    beam.metrics.Metrics.counter(
        _METRICS, "dead_letter|%s|%s|%s" % (letter.service, letter.stage, letter.error_code)).inc()


def _counter(result: Any, namespace: str, name: str) -> int:
    found = pipeline_metrics(result).query(
        MetricsFilter().with_namespace(namespace).with_name(name))
    return sum((c.committed or c.attempted or 0) for c in found["counters"])


def _stored(snapshot: Dict[str, Any], service: str) -> int:
    section = snapshot.get(service) or {}
    return sum(len(rows) for inner in section.values() if isinstance(inner, dict)
               for rows in inner.values())


def summarize(result: Any, options: DemoOptions, snapshot: Optional[Dict[str, Any]]) -> str:
    """A summary a person reads at a glance."""
    lines = ["", "beam-batchput demo: %d turbines, %.0f s of telemetry, five writers, local emulator"
             % (options.turbines, options.duration_seconds), "",
             "  %-15s %9s %9s %9s %9s %14s %9s" % ("service", "records", "written", "dead",
                                                   "requests", "fill/request", "stored")]
    totals = [0, 0, 0, 0]
    for service in sorted(WRITERS):
        ns = "beam_batchput.%s" % service
        row = [_counter(result, ns, "records_in"), _counter(result, ns, "records_written"),
               sum(_counter(result, ns, "dead_letters_%s" % s)
                   for s in ("validation", "entry", "request", "retries_exhausted")),
               _counter(result, ns, "requests_sent")]
        totals = [a + b for a, b in zip(totals, row)]
        fill = "%.1f" % (row[1] / row[3]) if row[3] else "-"
        stored = _stored(snapshot, service) if snapshot is not None else "-"
        lines.append("  %-15s %9d %9d %9d %9d %14s %9s" % (service, *row, fill, stored))
    lines.append("  %-15s %9d %9d %9d %9d" % ("all", *totals))
    lost = totals[0] - totals[1] - totals[2]
    lines += ["", "  every record accounted for: %s" % ("yes" if lost == 0 else
                                                         "NO, %d missing" % lost),
              "", "  dead letters by reason:"]
    reasons = pipeline_metrics(result).query(
        MetricsFilter().with_namespace(_METRICS))["counters"]
    for counter in sorted(reasons, key=lambda c: -(c.committed or c.attempted or 0)):
        service, stage, code = counter.key.metric.name.split("|")[1:]
        lines.append("    %-15s %-18s %-34s %6d" % (service, stage, code,
                                                    counter.committed or counter.attempted or 0))
    lines += ["", "  dead letters written to %s (Avro, schema 'dead_letter')"
              % os.path.join(options.demo_output_dir, "dead_letters")]
    return "\n".join(lines)


def run(argv: Optional[List[str]] = None) -> str:
    """Runs the demo and returns its summary (exits with usage on a bad command line)."""
    options = _cli.parse(argv, DemoOptions, "beam-batchput-demo", __doc__, require_region=False)
    options.view_as(StandardOptions).streaming = True
    if options.view_as(StandardOptions).runner is None:
        options.view_as(StandardOptions).runner = "FnApiRunner"
    writer_options = options.view_as(WriterOptions)
    emulator = None
    if writer_options.endpoint_url is None:
        from beam_batchput.emulator import Emulator

        emulator = Emulator(config=emulator_config(options.turbines)).start()
        writer_options.endpoint_url = emulator.endpoint_url
        writer_options.region_name = writer_options.region_name or "us-east-1"
        # The embedded emulator checks signatures against its test credentials.
        os.environ["AWS_ACCESS_KEY_ID"] = "testing"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"  # nosec B105 # emulator test key
        os.environ.pop("AWS_SESSION_TOKEN", None)
    try:
        pipeline = beam.Pipeline(options=options)
        build(pipeline, options)
        result = pipeline.run()
        result.wait_until_finish()
        return summarize(result, options, emulator.snapshot() if emulator else None)
    finally:
        if emulator is not None:
            emulator.stop()


def main(argv: Optional[List[str]] = None) -> int:
    """The command: runs the demo, prints its summary; status 1 if a record went missing."""
    logging.basicConfig(level=logging.ERROR)
    summary = run(argv)
    print(summary)
    return 0 if "every record accounted for: yes" in summary else 1


if __name__ == "__main__":
    sys.exit(main())
