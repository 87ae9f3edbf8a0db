"""The five writers on any engine, accounted for by the reliability ledger.

The pipeline is the reliability harness's (``tests/reliability/harness.py``): record ``n``
goes to service ``n % 5`` and carries ``n`` in its value. Receipts and dead letters are
written by the workers to JSON-lines files in a folder (one file per worker process), so
the test reads them back whichever process, or host namespace, ran the workers.
"""

from __future__ import annotations

import collections
import contextlib
import glob
import json
import os
import time
import uuid
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import apache_beam as beam
import grpc
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineState
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms import window
from apache_beam.transforms.periodicsequence import PeriodicImpulse

from beam_batchput.emulator import FaultConfig
from beam_batchput.services.iotevents import DUPLICATE_MESSAGE_CODE
from beam_batchput.writers import WRITERS
from pipelines.options import pipeline_metrics
from tests.reliability import harness

SERVICES = harness.SERVICES
# Light faults: enough that every service retries and four of five dead-letter something.
FAULTS = dict(throttle_rate=0.10, server_error_rate=0.03, entry_retryable_error_rate=0.05,
              entry_fatal_error_rate=0.05)


def fault_configs(seed: int) -> Dict[str, FaultConfig]:
    """Per service; DataZone answers whole requests only, so no entry errors for it."""
    configs = {}
    for index, service in enumerate(SERVICES):
        settings = dict(FAULTS)
        if service == "datazone":
            settings.update(entry_retryable_error_rate=0.0, entry_fatal_error_rate=0.0)
        configs[service] = FaultConfig(seed=seed * 10 + index, **settings)
    return configs


class _KeepInFiles(beam.DoFn):
    """Appends each output element, as a JSON list, to a file of this worker's own."""

    def __init__(self, folder: str, kind: str) -> None:
        self._folder, self._kind = folder, kind
        self._handle = None

    def setup(self) -> None:
        os.makedirs(self._folder, exist_ok=True)
        self._handle = open(os.path.join(self._folder, "%s-%d-%s.jsonl" % (
            self._kind, os.getpid(), uuid.uuid4().hex)), "a")

    def process(self, value: Any) -> None:
        self._handle.write(json.dumps(list(value)) + "\n")
        self._handle.flush()

    def teardown(self) -> None:
        if self._handle is not None:
            self._handle.close()


def read_outputs(folder: str) -> List[Tuple[str, Tuple[Any, ...]]]:
    """("written"|"failed", fields) of everything the workers kept, in the harness's form."""
    outputs = []
    for path in sorted(glob.glob(os.path.join(folder, "*.jsonl"))):
        kind = os.path.basename(path).split("-", 1)[0]
        with open(path) as handle:
            outputs.extend((kind, tuple(json.loads(line))) for line in handle if line.strip())
    return outputs


class _Records(beam.DoFn):
    """Tick ``k`` → ``(service, record)`` for records ``k * per_tick`` … (streaming source)."""

    def __init__(self, per_tick: int, total: int, t0: float) -> None:
        self._per_tick, self._total, self._t0 = per_tick, total, t0

    def process(self, tick: int, timestamp=beam.DoFn.TimestampParam) -> Iterator[Any]:
        first = tick * self._per_tick
        for n in range(first, min(first + self._per_tick, self._total)):
            service = SERVICES[n % len(SERVICES)]
            yield window.TimestampedValue((service, harness.make_record(service, n, self._t0)),
                                          timestamp)


def _test_stream(records: int, ticks: int, window_seconds: float) -> TestStream:
    """Record indexes (as bytes: Flink's runner decodes the events in Java) in ``ticks``
    fixed windows, the watermark advanced to each window's end after its records, so
    windows close while later ones still get input; the stream ends with the watermark
    at the end of time."""
    per_tick = -(-records // ticks)
    start = float(int(time.time()))
    stream = TestStream(coder=beam.coders.BytesCoder())
    for tick in range(ticks):
        begin = start + tick * window_seconds
        indexes = range(tick * per_tick, min((tick + 1) * per_tick, records))
        stream = stream.add_elements([
            window.TimestampedValue(b"%d" % n, begin + window_seconds * k / (per_tick + 1))
            for k, n in enumerate(indexes)])
        stream = stream.advance_watermark_to(begin + window_seconds)
    return stream.advance_watermark_to_infinity()


def _record_of_index(encoded: bytes, t0: float, pace_seconds: float
                     ) -> Tuple[str, Dict[str, Any]]:
    if pace_seconds:
        time.sleep(pace_seconds)  # spreads the stream over time (a test-stream's pace)
    n = int(encoded)
    service = SERVICES[n % len(SERVICES)]
    return service, harness.make_record(service, n, t0)


class _InWindow(beam.DoFn):
    """``((service, kind), count)`` → ``[service, kind, window start, count]``."""

    def process(self, keyed: Any, window=beam.DoFn.WindowParam) -> Iterator[Any]:
        (service, kind), count = keyed
        yield [service, kind, float(window.start), count]


def _count_per_window(tagged: beam.PCollection, results: Mapping[str, Any],
                      window_seconds: float, folder: str) -> None:
    """Counts, per service and fixed window, the records sent to the writers and their
    receipts and dead letters, each with a windowed ``CombinePerKey`` (allowed lateness 0:
    output the runner deems late is dropped, not counted); keeps the counts in ``folder``."""
    counted = [tagged
               | "Window-sent" >> beam.WindowInto(window.FixedWindows(window_seconds))
               | "Key-sent" >> beam.Map(lambda r: ((r[0], "sent"), 1))]
    for service, result in results.items():
        name = WRITERS[service].short_name
        for kind in ("written", "failed"):
            counted.append(getattr(result, kind) | "Key-%s-%s" % (kind, name) >> beam.Map(
                lambda _, s=service, k=kind: ((s, k), 1)))
    _ = (counted
         | "All-counts" >> beam.Flatten()
         | "Count-per-window" >> beam.CombinePerKey(sum)
         | "With-window" >> beam.ParDo(_InWindow())
         | "Keep-counts" >> beam.ParDo(_KeepInFiles(folder, "window")))


def window_counts(folder: str) -> Dict[Tuple[str, float], Dict[str, int]]:
    """(service, window start) → {"sent"|"written"|"failed": count}, as the pipeline
    counted them (:func:`_count_per_window`); a count emitted twice is an error."""
    counts: Dict[Tuple[str, float], Dict[str, int]] = collections.defaultdict(dict)
    for _, (service, kind, start, count) in read_outputs(folder):
        assert kind not in counts[(service, start)], (
            "window %s of %s counted twice for %s" % (start, service, kind))
        counts[(service, start)][kind] = count
    return dict(counts)


def build(pipeline: beam.Pipeline, endpoint_url: str, records: int, folder: str,
          streaming: bool = False, ticks: int = 10, fire_interval: float = 0.3,
          window_seconds: float = 1.0, allowed_lateness: float = 0.0,
          max_buffering_seconds: Optional[float] = None,
          counts_folder: Optional[str] = None, source: str = "periodic-impulse",
          pace_seconds: float = 0.0) -> None:
    """The five writers on ``records`` records, bounded (``Create``) or unbounded in fixed
    windows; outputs kept in ``folder``. The unbounded ``source`` is ``PeriodicImpulse``
    (``"periodic-impulse"``: ticks in real time) or a ``TestStream`` (``"test-stream"``:
    the watermark advanced window by window, see :func:`_test_stream`; each record then
    takes ``pace_seconds`` to make, spreading the stream over time). In streaming,
    ``counts_folder`` also keeps per-window counts of inputs and outputs
    (:func:`window_counts`); ``max_buffering_seconds`` overrides the harness's 0.5 s."""
    settings = harness.RunSettings(records=records, max_attempts=4)
    kwargs = harness.writer_kwargs(endpoint_url, settings)
    if max_buffering_seconds is not None:
        kwargs["max_buffering_seconds"] = max_buffering_seconds
    t0 = time.time() - 3600
    if streaming and source == "test-stream":
        tagged = (pipeline
                  | "Ticks" >> _test_stream(records, ticks, window_seconds).with_output_types(bytes)
                  | "Records" >> beam.Map(_record_of_index, t0, pace_seconds))
        windowing = window.FixedWindows(window_seconds)
    elif streaming:
        assert source == "periodic-impulse", source
        tagged = (pipeline
                  | "Ticks" >> PeriodicImpulse(data=list(range(ticks)),
                                               start_timestamp=time.time(),
                                               fire_interval=fire_interval)
                  | "Records" >> beam.ParDo(_Records(-(-records // ticks), records, t0)))
        windowing = window.FixedWindows(window_seconds)
    else:
        tagged = pipeline | "Records" >> beam.Create(harness.tagged_records(records, t0))
        windowing = None
    if streaming and allowed_lateness:
        tagged = tagged | "Lateness" >> beam.WindowInto(windowing,
                                                        allowed_lateness=allowed_lateness)
        windowing = None
    results = harness.write_each(tagged, lambda s: WRITERS[s].writer(**kwargs), windowing)
    if counts_folder is not None:
        assert streaming and not allowed_lateness, "per-window counts are for on-time streams"
        _count_per_window(tagged, results, window_seconds, counts_folder)
    for service, result in results.items():
        name = WRITERS[service].short_name
        _ = result.written | "Keep-w-%s" % name >> beam.ParDo(_KeepInFiles(folder, "written"))
        _ = result.failed | "Keep-f-%s" % name >> beam.ParDo(_KeepInFiles(folder, "failed"))


def metrics_of(result: Any) -> Dict[str, Dict[str, int]]:
    """service → counter → value, from the engine's metrics."""
    metrics = {}
    for service in SERVICES:
        found = pipeline_metrics(result).query(
            MetricsFilter().with_namespace("beam_batchput.%s" % service))["counters"]
        metrics[service] = collections.Counter()
        for counter in found:
            metrics[service][counter.key.metric.name] += counter.committed or counter.attempted or 0
    return metrics


def run(pipeline: beam.Pipeline, timeout_seconds: float) -> Any:
    """Runs the pipeline to DONE within the bound, or cancels it and raises."""
    result = pipeline.run()
    state = result.wait_until_finish(duration=int(timeout_seconds * 1000))
    if state != PipelineState.DONE:
        with contextlib.suppress(NotImplementedError, grpc.RpcError, RuntimeError):
            result.cancel()
        raise AssertionError("pipeline ended in state %s after %.0f s" % (state, timeout_seconds))
    return result


def ledger(records: int, folder: str, emulator: Any, metrics: Mapping[str, Mapping[str, int]]
           ) -> harness.Ledger:
    """The harness's accounting of one run."""
    expected = {s: {n for n in range(records) if SERVICES[n % 5] == s} for s in SERVICES}
    return harness.check(expected, read_outputs(folder), emulator.snapshot(),
                         emulator.requests(), metrics, max_attempts=4)


def assert_clean(book: harness.Ledger, records: int) -> None:
    """Nothing lost, nothing twice, every service wrote, both outputs carry records,
    retries happened, and every problem the ledger found is shown."""
    assert book.problems == [], "\n".join(book.problems[:30])
    assert (book.lost, book.duplicated) == (0, 0)
    assert sum(book.records.values()) == records
    for service in SERVICES:
        assert book.written[service] > 0, (service, book.written)
    assert sum(sum(c.values()) for c in book.dead_letters.values()) > 0, book.dead_letters
    assert sum(book.retried.values()) > 0, book.retried


def record_of(kind: str, fields: Sequence[Any]) -> Tuple[str, int]:
    """(service, record number) of one kept output."""
    service, record = (fields[0], fields[4]) if kind == "written" else (fields[1], fields[0])
    return service, harness.number_of(service, record)


def replayed_ledger(records: int, folder: str, emulator: Any,
                    metrics: Mapping[str, Mapping[str, int]]
                    ) -> Tuple[harness.Ledger, Dict[str, Dict[str, int]]]:
    """The ledger of a run that a runner restored from a checkpoint and replayed.

    A restore replays what came after the checkpoint, so the outputs kept since then
    are emitted again (at least once, not exactly once): a record may have several
    outputs. Each record's outputs are reduced to one (a receipt if it has any, else a
    dead letter, one the service's answer explains before one of the IoT Events
    writer's ``DuplicateMessage``: a restore from a checkpoint taken before the source
    finished delivers records twice, and the second copy of a message in one request
    is not sent) and the harness then checks the rest as for any run: every record in
    an output, stored once (each service's own idempotency absorbs the re-sent
    requests), every dead letter's reason in the request log. The re-emissions are
    returned per service, not hidden: ``records`` with more than one output, the
    ``extra`` outputs, ``receipt_and_dead_letter`` (dead-lettered on one pass,
    written on the other) and ``copy_in_one_request`` (a ``DuplicateMessage``
    beside another output of the same record). ``records_in`` is not checked: Flink
    reports the counters of the last attempt only, which counts what it read after the
    restore.
    """
    kept: Dict[Tuple[str, int], List[Tuple[str, Tuple[Any, ...]]]] = collections.defaultdict(list)
    for kind, fields in read_outputs(folder):
        kept[record_of(kind, fields)].append((kind, fields))
    replays = {s: collections.Counter() for s in SERVICES}
    once = []
    for (service, _), outputs in sorted(kept.items()):
        kinds = {kind for kind, _ in outputs}
        copies = [o for o in outputs if o[0] == "failed" and o[1][2] == DUPLICATE_MESSAGE_CODE]
        if len(outputs) > 1:
            replays[service]["records"] += 1
            replays[service]["extra"] += len(outputs) - 1
            replays[service]["receipt_and_dead_letter"] += kinds == {"written", "failed"}
            replays[service]["copy_in_one_request"] += bool(copies)
        others = [o for o in outputs if o not in copies] or outputs
        once.append(next((o for o in others if o[0] == "written"), others[0]))
    expected = {s: {n for n in range(records) if SERVICES[n % 5] == s} for s in SERVICES}
    book = harness.check(expected, once, emulator.snapshot(), emulator.requests(), metrics,
                         max_attempts=4, metrics_count_every_record=False)
    return book, {s: dict(c) for s, c in replays.items()}
