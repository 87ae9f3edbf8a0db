"""The emulator's writers in one streaming pipeline against a faulty emulator, and the ledger.

The ledger accounts for every input record, by its number: in exactly one output
(a receipt or a dead letter); a receipt's record stored once with its value; a
dead letter's reason corroborated by the emulator's request log. What the
emulator stored, and the faults it injected, are read back from the emulator.

Record ``n`` goes to service ``SERVICES[n % len(SERVICES)]`` and carries ``n`` in its value,
so receipts, dead letters, requests and stored data all name it.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import json
import threading
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Set, Tuple

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms import window
from apache_beam.transforms.periodicsequence import PeriodicImpulse

from beam_batchput import ClientConfig, RetryConfig, registry
from beam_batchput.core.records import Stage
from beam_batchput.core.service import Service
from beam_batchput.emulator import Emulator, FaultConfig
from beam_batchput.writers import WRITERS
from pipelines.options import pipeline_metrics

__all__ = ["FAULT_KINDS", "Ledger", "RunSettings", "SERVICES", "check", "fault_configs",
           "make_record", "quota_configs", "run_pipeline"]

#: The services the emulator serves (a registry row with an emulator handler);
#: Kinesis, which it does not serve, is tested against moto's server instead.
SERVICES: Tuple[str, ...] = tuple(row.botocore_name for row in registry.SERVICES
                                  if row.emulator_handler)
CONNECT_INSTANCE = "5e7c1a2b-3d4f-4a5b-8c6d-7e8f9a0b1c2d"
_SERVICE_MODELS: Dict[str, Service] = {
    row.botocore_name: registry.load(row.service)() for row in registry.SERVICES}
# Codes botocore gives a request whose answer never came (dropped, timed out).
_CONNECTION_CODES = frozenset({"ConnectionClosedError", "ReadTimeoutError",
                               "EndpointConnectionError", "ConnectTimeoutError"})

FAULT_KINDS = ("throttled", "server_error", "dropped", "slow", "entry_retryable",
               "entry_fatal")


# Records

def make_record(service: str, n: int, t0: float) -> Dict[str, Any]:
    """Record number ``n`` of ``service``: a unique identity, ``n`` in its value."""
    at = t0 + n / 1000.0
    i = n // len(SERVICES)
    if service == "iotsitewise":
        return {"property_alias": "/rel/p%02d" % (i % 20), "value": float(n), "timestamp": at}
    if service == "iottwinmaker":
        return {"workspace_id": "rel", "entity_id": "e%02d" % (i % 10),
                "component_name": "c", "property_name": "p", "value": float(n),
                "timestamp": at}
    if service == "datazone":
        return {"domain_id": "dzd_rel", "entity_type": "ASSET", "entity_id": "a%d" % (i % 4),
                "form_name": "f", "type_identifier": "amazon.datazone.TestFormType",
                "timestamp": at, "content": {"n": n}}
    if service == "connect":
        return {"instance_id": CONNECT_INSTANCE, "data_table_id": "t%d" % (i % 3),
                "attribute_name": "value", "value": "v%d" % n,
                "primary_values": {"id": "r%d" % n}}
    if service == "iotevents-data":
        return {"input_name": "relInput%d" % (i % 2), "payload": {"n": n}, "timestamp": at}
    raise ValueError("unknown service %r" % service)


def tagged_records(count: int, t0: float) -> List[Tuple[str, Dict[str, Any]]]:
    """``(service, record)`` for records 0..count-1, spread over the five services in turn."""
    return [(SERVICES[n % len(SERVICES)], make_record(SERVICES[n % len(SERVICES)], n, t0))
            for n in range(count)]


def _location(service: str, n: int) -> str:
    """Where record ``n`` must be stored (the emulator's snapshot key)."""
    record = make_record(service, n, 0.0)
    if service == "iotsitewise":
        return record["property_alias"]
    if service == "iottwinmaker":
        return "rel/%s/c/p" % record["entity_id"]
    if service == "datazone":
        return "dzd_rel/ASSET/%s" % record["entity_id"]
    if service == "connect":
        return "%s/%s" % (CONNECT_INSTANCE, record["data_table_id"])
    return record["input_name"]


def number_of(service: str, record_json: str) -> int:
    """The record number in a receipt's or dead letter's record JSON."""
    record = json.loads(record_json)
    if service in ("iotsitewise", "iottwinmaker"):
        return int(record["value"])
    if service == "datazone":
        return int(record["content"]["n"])
    if service == "connect":
        return int(record["value"][1:])
    return int(record["payload"]["n"])


def _stored(service: str, snapshot: Mapping[str, Any]) -> Iterator[Tuple[int, str]]:
    """(record number, location) of everything the emulator holds for ``service``."""
    section = snapshot.get(service) or {}
    if service in ("iotsitewise", "iottwinmaker"):
        for key, points in (section.get("values") or {}).items():
            for point in points:
                yield int(point["value"]["doubleValue"]), key
    elif service == "datazone":
        for key, points in (section.get("dataPoints") or {}).items():
            for point in points:
                yield int(json.loads(point["content"])["n"]), key
    elif service == "connect":
        for key, rows in (section.get("values") or {}).items():
            for row in rows:
                yield int(row["Value"][1:]), key
    else:
        for key, messages in (section.get("messages") or {}).items():
            for message in messages:
                yield int(json.loads(base64.b64decode(message["payload"]))["n"]), key


# The request log: which records a request carried, and which its answer refused

def _logged_records(service: str, request: Mapping[str, Any],
                    response: Optional[Mapping[str, Any]]) -> Dict[int, Optional[str]]:
    """Record number → entry error code in the answer (None: accepted or no answer)."""
    carried: Dict[int, Optional[str]] = {}
    response = response or {}
    if service == "iotsitewise":
        errors: Dict[Tuple[str, Tuple[int, int]], str] = {}
        for error_entry in response.get("errorEntries") or ():
            for error in error_entry["errors"]:
                for stamp in error["timestamps"]:
                    errors[(error_entry["entryId"], (stamp["timeInSeconds"],
                                                     stamp.get("offsetInNanos", 0)))] = \
                        error["errorCode"]
        for entry in request["entries"]:
            for tqv in entry["propertyValues"]:
                stamp = (tqv["timestamp"]["timeInSeconds"], tqv["timestamp"]["offsetInNanos"])
                carried[int(tqv["value"]["doubleValue"])] = errors.get((entry["entryId"], stamp))
    elif service == "iottwinmaker":
        for entry in request["entries"]:
            for value in entry["propertyValues"]:
                carried[int(value["value"]["doubleValue"])] = None
        for error_entry in response.get("errorEntries") or ():
            for error in error_entry["errors"]:
                for value in error["entry"]["propertyValues"]:
                    carried[int(value["value"]["doubleValue"])] = error["errorCode"]
    elif service == "datazone":
        for form in request["forms"]:
            carried[int(json.loads(form["content"])["n"])] = None
    elif service == "connect":
        for value in request["Values"]:
            carried[int(value["Value"][1:])] = None
        for failed in response.get("Failed") or ():
            n = int(failed["PrimaryValues"][0]["Value"][1:])
            carried[n] = failed["Message"].split(":", 1)[0]
    else:
        by_id = {}
        for message in request["messages"]:
            n = int(json.loads(base64.b64decode(message["payload"]))["n"])
            by_id[message["messageId"]] = n
            carried[n] = None
        for error in response.get("BatchPutMessageErrorEntries") or ():
            carried[by_id[error["messageId"]]] = error["errorCode"]
    return carried


@dataclasses.dataclass
class _Trace:
    """What the request log says happened to one record."""

    sent: int = 0
    accepted: int = 0          # answered 2xx with no entry error for it
    accepted_slow: int = 0     # of those, answers held past the client's timeout
    throttled: int = 0         # sends refused by throttling, whole or for this entry
    entry_codes: List[str] = dataclasses.field(default_factory=list)


def _read_log(log: List[Mapping[str, Any]]) -> Tuple[Dict[str, Dict[int, _Trace]],
                                                     Dict[str, Dict[str, int]],
                                                     Dict[str, int]]:
    """(service → record → trace, service → fault kind → count, service → requests)."""
    traces: Dict[str, Dict[int, _Trace]] = {s: collections.defaultdict(_Trace) for s in SERVICES}
    faults = {s: dict.fromkeys(FAULT_KINDS, 0) for s in SERVICES}
    requests = dict.fromkeys(SERVICES, 0)
    for entry in log:
        service = entry["service"]
        if service not in faults or entry["request"] is None:
            continue
        requests[service] += 1
        counts = faults[service]
        status, code = entry["status"], entry["errorCode"]
        if entry["delaySeconds"]:
            counts["slow"] += 1
        if code == "ConnectionDropped":
            counts["dropped"] += 1
        elif status == 429:
            counts["throttled"] += 1
        elif status is not None and status >= 500:
            counts["server_error"] += 1
        answered = status is not None and 200 <= status < 300
        carried = _logged_records(service, entry["request"],
                                  entry["response"] if answered else None)
        model = _SERVICE_MODELS[service]
        for n, entry_code in carried.items():
            trace = traces[service][n]
            trace.sent += 1
            trace.throttled += status == 429 or model.is_throttling(entry_code or "")
            if not answered:
                continue
            if entry_code is None:
                trace.accepted += 1
                trace.accepted_slow += bool(entry["delaySeconds"])
            else:
                trace.entry_codes.append(entry_code)
                counts["entry_retryable" if model.is_retryable(entry_code)
                       else "entry_fatal"] += 1
    return traces, faults, requests


# The pipeline

_OUTPUTS: Dict[str, List[Tuple[str, Any]]] = collections.defaultdict(list)
_OUTPUTS_LOCK = threading.Lock()


def _keep(value: Any, run: str, kind: str) -> None:
    with _OUTPUTS_LOCK:
        _OUTPUTS[run].append((kind, tuple(value)))


class _Generate(beam.DoFn):
    """Tick ``k`` → records ``k * per_tick`` … ``(k + 1) * per_tick - 1``, one service each."""

    def __init__(self, per_tick: int, total: int, t0: float) -> None:
        self._per_tick, self._total, self._t0 = per_tick, total, t0

    def process(self, tick: int, timestamp=beam.DoFn.TimestampParam) -> Iterator[Any]:
        first = tick * self._per_tick
        for n in range(first, min(first + self._per_tick, self._total)):
            service = SERVICES[n % len(SERVICES)]
            yield TaggedOutput(service, window.TimestampedValue(
                make_record(service, n, self._t0), timestamp))


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """How the fault run is shaped.

    Attributes:
        records: Records in all (spread over the five services).
        ticks: Impulses of the unbounded source; each emits records/ticks records.
        fire_interval: Seconds between impulses.
        read_timeout: The writers' client read timeout (slow answers exceed it).
        slow_response_ms: How late a slow answer comes.
        seed: Seed of the emulator's faults.
        max_attempts: Sends per record at most (throttled sends aside).
        throttling: How the emulator throttles: ``"quota"``, a request bucket
            per service of ``quota_rps`` (AWS's way: refused while the writers
            send faster), written with the default adaptive writer; or
            ``"random"``, a fifth of the requests refused whatever the rate,
            written with fixed concurrency (adaptive concurrency reads any
            throttling as a quota, so against coin flips it would only slow down).
        quota_rps: Requests per second of each service's bucket (burst: one
            second's worth) in ``"quota"`` mode.
    """

    records: int = 3000
    ticks: int = 10
    fire_interval: float = 0.2
    read_timeout: float = 0.5
    slow_response_ms: float = 800.0
    seed: int = 8
    max_attempts: int = 5
    throttling: str = "quota"
    quota_rps: float = 25.0

    def __post_init__(self) -> None:
        if self.throttling not in ("quota", "random"):
            raise ValueError("throttling must be 'quota' or 'random', got %r"
                             % (self.throttling,))


def write_each(tagged: beam.PCollection, writer_for: Callable[[str], beam.PTransform],
               windowing: Any = None) -> Dict[str, Any]:
    """Writes ``(service, record)`` pairs, each service's part with the writer
    ``writer_for(service)``, in ``windowing`` if given; returns each WriteResult."""
    results = {}
    for service in SERVICES:
        name = WRITERS[service].short_name
        part = (tagged
                | "Only-%s" % name >> beam.Filter(lambda r, s=service: r[0] == s)
                | "Record-%s" % name >> beam.Map(lambda r: r[1]))
        if windowing is not None:
            part = part | "Window-%s" % name >> beam.WindowInto(windowing)
        results[service] = part | "Write-%s" % name >> writer_for(service)
    return results


def fault_configs(settings: RunSettings) -> Dict[str, FaultConfig]:
    """The faults of the issue: throttling 20% (in ``"random"`` mode; a quota
    instead in ``"quota"`` mode, see :func:`quota_configs`), 5xx 5%, drops 2%,
    slow answers 2%, retryable entry errors 10%, non-retryable ones 1%
    (DataZone answers whole requests only, so it gets no entry errors)."""
    configs = {}
    throttle = 0.20 if settings.throttling == "random" else 0.0
    for index, service in enumerate(SERVICES):
        entry = service != "datazone"
        configs[service] = FaultConfig(
            throttle_rate=throttle, server_error_rate=0.03, unavailable_rate=0.02,
            drop_connection_rate=0.02, slow_response_rate=0.02,
            slow_response_ms=settings.slow_response_ms,
            entry_retryable_error_rate=0.10 if entry else 0.0,
            entry_fatal_error_rate=0.01 if entry else 0.0,
            seed=settings.seed * 10 + index)
    return configs


def quota_configs(settings: RunSettings) -> Dict[str, Any]:
    """Each service's request bucket in ``"quota"`` mode (no other bucket: the
    per-entry faults come from :func:`fault_configs`); none in ``"random"`` mode."""
    if settings.throttling != "quota":
        return {}
    return {service: {"requests_per_second": settings.quota_rps, "items_per_second": None,
                      "resource_items_per_second": None}
            for service in SERVICES}


def writer_kwargs(endpoint_url: str, settings: RunSettings) -> Dict[str, Any]:
    """The writers' options: short timeouts, small backoffs, a bounded retry budget."""
    return dict(
        client=ClientConfig(region_name="us-east-1", endpoint_url=endpoint_url,
                            connect_timeout=2.0, read_timeout=settings.read_timeout),
        retry=RetryConfig(max_attempts=settings.max_attempts, initial_backoff_seconds=0.01,
                          max_backoff_seconds=0.1, max_retry_seconds=60.0),
        # Implementation note: the default adaptive writer against a quota;
        # fixed concurrency against coin-flip throttling, which refuses a fifth
        # of the requests whatever the rate: adaptive concurrency reads it as a
        # quota and slows down to its floor, which would prove nothing more.
        max_buffering_seconds=0.5, max_in_flight=4,
        adaptive_concurrency=settings.throttling == "quota")


def run_pipeline(endpoint_url: str, settings: RunSettings
                 ) -> Tuple[List[Tuple[str, Any]], Dict[str, Dict[str, int]]]:
    """Runs the five writers in one streaming pipeline on the portable engine.

    Returns:
        (outputs as ("written"|"failed", tuple of fields), service → metric → value).
    """
    run = uuid.uuid4().hex
    options = PipelineOptions(flags=[])
    options.view_as(StandardOptions).streaming = True
    per_tick = -(-settings.records // settings.ticks)
    t0 = time.time() - 3600
    kwargs = writer_kwargs(endpoint_url, settings)
    with beam.Pipeline(runner="FnApiRunner", options=options) as pipeline:
        streams = (pipeline
                   | "Ticks" >> PeriodicImpulse(data=list(range(settings.ticks)),
                                                start_timestamp=time.time(),
                                                fire_interval=settings.fire_interval)
                   | "Records" >> beam.ParDo(_Generate(per_tick, settings.records, t0))
                   .with_outputs(*SERVICES))
        for service in SERVICES:
            info = WRITERS[service]
            result = (streams[service]
                      | "Window-%s" % info.short_name >> beam.WindowInto(
                          window.FixedWindows(2))
                      | "Write-%s" % info.short_name >> info.writer(**kwargs))
            _ = result.written | "Keep-w-%s" % info.short_name >> beam.Map(
                _keep, run, "written")
            _ = result.failed | "Keep-f-%s" % info.short_name >> beam.Map(_keep, run, "failed")
    metrics = {}
    for service in SERVICES:
        found = pipeline_metrics(pipeline.result).query(
            MetricsFilter().with_namespace("beam_batchput.%s" % service))["counters"]
        metrics[service] = collections.Counter()
        for counter in found:
            metrics[service][counter.key.metric.name] += counter.committed or counter.attempted or 0
    with _OUTPUTS_LOCK:
        outputs = _OUTPUTS.pop(run, [])
    return outputs, metrics


# The ledger

@dataclasses.dataclass
class Ledger:
    """The accounting of one run: figures and every problem found."""

    records: Dict[str, int]
    written: Dict[str, int]
    dead_letters: Dict[str, "collections.Counter[Tuple[str, str]]"]
    stored_then_dead_lettered: Dict[str, int]
    timed_out_then_written: Dict[str, int]
    faults: Dict[str, Dict[str, int]]
    requests: Dict[str, int]
    retried: Dict[str, int]
    lost: int
    duplicated: int
    problems: List[str]


def check(expected: Mapping[str, Set[int]], outputs: List[Tuple[str, Any]],
          snapshot: Mapping[str, Any], log: List[Mapping[str, Any]],
          metrics: Mapping[str, Mapping[str, int]], max_attempts: int,
          metrics_count_every_record: bool = True) -> Ledger:
    """Accounts for every expected record number of every service. ``records_in`` must
    equal the input unless ``metrics_count_every_record`` is false (an engine that
    restored a checkpoint reports the last attempt's counters only)."""
    problems: List[str] = []
    traces, faults, requests = _read_log(log)
    written_by = {s: collections.Counter() for s in SERVICES}
    letters_by: Dict[str, Dict[int, List[Tuple[str, str, int]]]] = {
        s: collections.defaultdict(list) for s in SERVICES}
    for kind, fields in outputs:
        if kind == "written":
            service, _, _, _, record = fields
            written_by[service][number_of(service, record)] += 1
        else:
            record, service, code, _, stage, attempts = fields[:6]
            letters_by[service][number_of(service, record)].append((stage, code, attempts))
    lost = duplicated = 0
    dead = {s: collections.Counter() for s in SERVICES}
    ambiguous = dict.fromkeys(SERVICES, 0)
    recovered = dict.fromkeys(SERVICES, 0)
    for service in SERVICES:
        model = _SERVICE_MODELS[service]
        stored = collections.Counter()
        for n, key in _stored(service, snapshot):
            stored[n] += 1
            if n not in expected[service]:
                problems.append("%s stores record %d, which was never an input" % (service, n))
            elif key != _location(service, n):
                problems.append("%s stores record %d under %s, not %s"
                                % (service, n, key, _location(service, n)))
        for n in sorted(expected[service]):
            receipts, letters = written_by[service][n], letters_by[service].get(n, [])
            trace = traces[service].get(n, _Trace())
            outputs_count = receipts + len(letters)
            if outputs_count == 0:
                lost += 1
                problems.append("%s record %d is in no output" % (service, n))
                continue
            if outputs_count > 1 or stored[n] > 1:
                duplicated += 1
                problems.append("%s record %d: %d receipts, %d dead letters, stored %d times"
                                % (service, n, receipts, len(letters), stored[n]))
                continue
            if receipts:
                if stored[n] != 1:
                    lost += 1
                    problems.append("%s record %d has a receipt but is not stored" % (service, n))
                recovered[service] += bool(trace.accepted_slow)
                continue
            stage, code, attempts = letters[0]
            dead[service][(stage, code)] += 1
            if stored[n]:
                # Stored by an attempt whose answer the client never saw.
                ambiguous[service] += 1
                if not trace.accepted:
                    problems.append("%s record %d is dead-lettered (%s) and stored, but no "
                                    "logged request was accepted for it" % (service, n, code))
            if stage == Stage.ENTRY:
                if model.is_retryable(code) or code not in trace.entry_codes:
                    problems.append("%s record %d dead-lettered at entry with %s; the log shows "
                                    "%s" % (service, n, code, trace.entry_codes))
            elif stage == Stage.RETRIES_EXHAUSTED:
                if not (model.is_retryable(code) or code in _CONNECTION_CODES):
                    problems.append("%s record %d exhausted retries on non-retryable %s"
                                    % (service, n, code))
                # Throttled sends do not count against max_attempts.
                if attempts < max_attempts or trace.sent < 1 \
                        or (attempts > max_attempts and not trace.throttled):
                    problems.append("%s record %d exhausted retries after %d attempts (%d sent)"
                                    % (service, n, attempts, trace.sent))
            else:
                problems.append("%s record %d dead-lettered at stage %s (%s) under transient "
                                "faults only" % (service, n, stage, code))
        extra = set(written_by[service]) | set(letters_by[service])
        for n in sorted(extra - expected[service]):
            problems.append("%s output names record %d, which was never an input" % (service, n))
        if metrics_count_every_record and \
                metrics[service].get("records_in", 0) != len(expected[service]):
            problems.append("%s: records_in is %d, expected %d" % (
                service, metrics[service].get("records_in", 0), len(expected[service])))
    return Ledger(
        records={s: len(expected[s]) for s in SERVICES},
        written={s: sum(written_by[s].values()) for s in SERVICES},
        dead_letters=dead, stored_then_dead_lettered=ambiguous,
        timed_out_then_written=recovered, faults=faults,
        requests=requests,
        retried={s: int(metrics[s].get("retried_records", 0)) for s in SERVICES},
        lost=lost, duplicated=duplicated, problems=problems)


def run_and_check(settings: RunSettings,
                  emulator_factory: Callable[..., Emulator] = Emulator) -> Ledger:
    """Starts a faulty emulator, runs the pipeline, and checks the ledger."""
    with emulator_factory(faults=fault_configs(settings),
                          quotas=quota_configs(settings)) as emulator:
        outputs, metrics = run_pipeline(emulator.endpoint_url, settings)
        snapshot, log = emulator.snapshot(), emulator.requests()
    expected = {s: {n for n in range(settings.records) if SERVICES[n % len(SERVICES)] == s}
                for s in SERVICES}
    return check(expected, outputs, snapshot, log, metrics, settings.max_attempts)
