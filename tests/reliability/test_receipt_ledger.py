"""Receipts only for stored values: a ledger per writer, read back from the emulator.

Each scenario sends records through the writer's sending path (service module,
packing, the core's sender, a real boto3 client over HTTP) to the emulator and
then reads the emulator's state back. The ledger holds when every input record
is in exactly one output, every receipt names a value the emulator stores
exactly as sent, and (where the scenario says the service holds them) no value
the emulator holds as sent is dead-lettered.

Scenarios: no faults; SiteWise with partial entry processing off; errors the
writer cannot place (the answer rewritten in botocore's ``after-call`` hook, so
the emulator stored what it stored); replays after an ambiguous failure, under
each answer the emulator can give to a value it already holds; and a seeded run
of late answers past the client's read timeout.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import pytest

from beam_batchput import ClientConfig, RetryConfig
from beam_batchput.core.packing import pack
from beam_batchput.core.sender import NOT_CONFIRMED_CODE, UNMATCHED_ERROR_CODE, RequestSender
from beam_batchput.core.service import Item, Service
from beam_batchput.emulator import Emulator, FaultConfig
from beam_batchput.services.connect import ConnectDataTableService
from beam_batchput.services.datazone import DataZoneService
from beam_batchput.services.iotevents import IoTEventsService
from beam_batchput.services.sitewise import SiteWiseService
from beam_batchput.services.twinmaker import TwinMakerService
from tests.clocks import FakeClock
from tests.reliability.harness import SERVICES, make_record

pytestmark = pytest.mark.usefixtures("emulator_credentials")

T0 = time.time() - 3600
RETRY = RetryConfig(max_attempts=4, initial_backoff_seconds=0.001, max_backoff_seconds=0.01)
_SERVICES: Dict[str, Callable[..., Service]] = {
    "iotsitewise": SiteWiseService, "iottwinmaker": TwinMakerService,
    "datazone": DataZoneService, "connect": ConnectDataTableService,
    "iotevents-data": IoTEventsService}


@dataclasses.dataclass
class Run:
    """What one scenario produced."""

    service: Service
    items: List[Item]
    written: List[Item]
    failed: List[Tuple[Item, str, str]]
    snapshot: Mapping[str, Any]
    unmatched_errors: int = 0


def client_for(emulator: Emulator, service: Service, read_timeout: float = 10.0) -> Any:
    config = ClientConfig(region_name="us-east-1", endpoint_url=emulator.endpoint_url,
                          read_timeout=read_timeout, connect_timeout=2.0)
    return config.create_client(service.name)


def prepared(service: Service, records: Sequence[Mapping[str, Any]]) -> List[Item]:
    """Items as the prepare step makes them: element timestamps set, ids complete."""
    items = []
    for n, record in enumerate(records):
        item = service.item(record)
        item.event_time = int(T0 * 1e6) + n
        items.append(service.with_event_time(item))
    return items


def send_all(emulator: Emulator, service: Service, items: List[Item], *,
             hook: Optional[Callable[..., None]] = None, read_timeout: float = 10.0) -> Run:
    client = client_for(emulator, service, read_timeout)
    if hook is not None:
        client.meta.events.register("after-call", hook)
    sender = RequestSender(service, RETRY, clock=FakeClock())
    written, failed, unmatched = [], [], 0
    for request in pack(items, service.limits, service.entry_id):
        outcome = sender.send(client, request)
        written += [s.item for s in outcome.written]
        failed += [(s.item, s.code, s.message) for s in outcome.failed]
        unmatched += outcome.unmatched_errors
    return Run(service, items, written, failed, emulator.snapshot(), unmatched)


def write_directly(emulator: Emulator, service: Service, items: List[Item]) -> None:
    """Sends the writer's own requests once, outside it: the first attempt of an
    ambiguous failure, stored by the service while the writer saw no answer."""
    client = client_for(emulator, service)
    for request in pack(items, service.limits, service.entry_id):
        getattr(client, service.method)(**service.build_request(request.scope, request.entries))


# Reading the emulator back

def _held(service: Service, snapshot: Mapping[str, Any], item: Item) -> bool:
    """Whether the emulator stores ``item``'s value exactly as the writer sent it."""
    section = snapshot.get(service.name) or {}
    payload = item.payload
    if service.name == "iotsitewise":
        kind, _, name = item.group.partition(":")
        payload = SiteWiseService.tqv(item)
        stamp = payload["timestamp"]
        return any(p["timeInSeconds"] == stamp["timeInSeconds"]
                   and p["offsetInNanos"] == stamp["offsetInNanos"]
                   and p["value"] == payload["value"] and p["quality"] == payload["quality"]
                   for p in (section.get("values") or {}).get(name, ()))
    if service.name == "iottwinmaker":
        return any(p["time"] == payload["time"] and p["value"] == payload["value"]
                   for points in (section.get("values") or {}).values() for p in points)
    if service.name == "datazone":
        key = "/".join(item.scope)
        return any(p["formName"] == payload["formName"]
                   and p["typeIdentifier"] == payload["typeIdentifier"]
                   and abs(p["timestamp"] - payload["timestamp"]) < 5e-4
                   and p["content"] == payload.get("content", "")
                   for p in (section.get("dataPoints") or {}).get(key, ()))
    if service.name == "connect":
        primary = sorted((p["AttributeName"], p["Value"]) for p in payload.get(
            "PrimaryValues", ()))
        return any(sorted((p["AttributeName"], p["Value"]) for p in row["PrimaryValues"])
                   == primary and row["AttributeName"] == payload["AttributeName"]
                   and row["Value"] == payload["Value"]
                   for row in (section.get("values") or {}).get("/".join(item.scope), ()))
    return any(m["messageId"] == payload["messageId"]
               and base64.b64decode(m["payload"]) == payload["payload"]
               for m in (section.get("messages") or {}).get(payload["inputName"], ()))


def assert_ledger(run: Run, *, none_held_dead_lettered: bool = True) -> None:
    outputs = collections.Counter(id(item) for item in run.written)
    outputs.update(id(item) for item, _, _ in run.failed)
    problems = ["%s is in %d outputs" % (item.item_id, outputs[id(item)])
                for item in run.items if outputs[id(item)] != 1]
    problems += ["receipt for %s, which the emulator does not hold as sent" % item.item_id
                 for item in run.written if not _held(run.service, run.snapshot, item)]
    if none_held_dead_lettered:
        problems += ["%s dead-lettered (%s) though the emulator holds it as sent"
                     % (item.item_id, code) for item, code, _ in run.failed
                     if _held(run.service, run.snapshot, item)]
    assert problems == [], problems[:10]


def records_of(service_name: str, count: int) -> List[Dict[str, Any]]:
    step = len(SERVICES)
    offset = SERVICES.index(service_name)
    return [make_record(service_name, offset + step * i, T0) for i in range(count)]


ALL = pytest.mark.parametrize("name", SERVICES)


@ALL
def test_without_faults_every_record_is_written_and_stored_as_sent(name):
    service = _SERVICES[name]()
    with Emulator() as emulator:
        run = send_all(emulator, service, prepared(service, records_of(name, 60)))
    assert_ledger(run)
    assert len(run.written) == 60


# SiteWise: partial entry processing off

SITEWISE_TYPED = {"iotsitewise": {"properties": [
    {"alias": "/rel/p%02d" % p, "assetId": None, "propertyId": None, "dataType": "DOUBLE"}
    for p in range(20)]}}


def sitewise_mixed_records() -> List[Dict[str, Any]]:
    """60 points over 20 properties; every seventh an INTEGER the DOUBLE property refuses
    (the writer cannot tell: it does not know the property's data type)."""
    records = records_of("iotsitewise", 60)
    for n, record in enumerate(records):
        if n % 7 == 0:
            record["value"] = int(record["value"])
    return records


@pytest.mark.parametrize("partial", [True, False])
def test_sitewise_invalid_values_fail_alone_whatever_partial_processing_says(partial):
    service = SiteWiseService(enable_partial_entry_processing=partial)
    with Emulator(config=SITEWISE_TYPED) as emulator:
        run = send_all(emulator, service, prepared(service, sitewise_mixed_records()))
    assert_ledger(run)
    refused = sorted(item.item_id for item, code, _ in run.failed)
    assert len(refused) == 9 and {code for _, code, _ in run.failed} == {
        "InvalidRequestException"}
    assert len(run.written) == 51


def test_sitewise_partial_off_mates_are_not_receipts_when_their_retries_run_out():
    service = SiteWiseService(enable_partial_entry_processing=False)
    # The retry budget is one attempt: the entry-mates are never stored.
    with Emulator(config=SITEWISE_TYPED) as emulator:
        client = client_for(emulator, service)
        sender = RequestSender(service, RetryConfig(max_attempts=1), clock=FakeClock())
        items = prepared(service, sitewise_mixed_records())
        written, failed = [], []
        for request in pack(items, service.limits, service.entry_id):
            outcome = sender.send(client, request)
            written += [s.item for s in outcome.written]
            failed += [(s.item, s.code, s.message) for s in outcome.failed]
        run = Run(service, items, written, failed, emulator.snapshot())
    assert_ledger(run)
    codes = collections.Counter(code for _, code, _ in run.failed)
    assert codes["InvalidRequestException"] == 9 and codes["EntryNotIngested"] > 0


# Errors the writer cannot place

def _first_call_only(mangle: Callable[[Dict[str, Any], Any], None]) -> Callable[..., None]:
    calls = []

    def hook(http_response=None, parsed=None, model=None, **_):
        if model is None or not model.name.startswith(("Batch", "Post")) or calls:
            return
        calls.append(model.name)
        mangle(parsed, model)
    return hook


def _stranger_sitewise(parsed, model):
    parsed.setdefault("errorEntries", []).append({"entryId": "not-ours", "errors": [
        {"errorCode": "InvalidRequestException", "errorMessage": "?", "timestamps": []}]})


def _stranger_twinmaker(parsed, model):
    parsed.setdefault("errorEntries", []).append({"errors": [{
        "errorCode": "ValidationException", "errorMessage": "?", "entry": {
            "entityPropertyReference": {"entityId": "SOMEONE", "componentName": "c",
                                        "propertyName": "p"}, "propertyValues": []}}]})


def _stranger_connect(parsed, model):
    # Connect echoes one value with its primary value in another case, as failed.
    moved = parsed["Successful"].pop(0)
    primary = [dict(p, Value=p["Value"].upper()) for p in moved["PrimaryValues"]]
    parsed["Failed"].append({"PrimaryValues": primary, "AttributeName": moved["AttributeName"],
                             "Message": "Value could not be written"})


def _stranger_iotevents(parsed, model):
    parsed.setdefault("BatchPutMessageErrorEntries", []).append(
        {"messageId": "not-ours", "errorCode": "InvalidRequestException", "errorMessage": "?"})


@pytest.mark.parametrize("name, mangle", [
    ("iotsitewise", _stranger_sitewise), ("iottwinmaker", _stranger_twinmaker),
    ("connect", _stranger_connect), ("iotevents-data", _stranger_iotevents)])
def test_an_unplaced_error_fails_what_it_could_name_and_the_retry_settles_it(name, mangle):
    service = _SERVICES[name]()
    with Emulator() as emulator:
        run = send_all(emulator, service, prepared(service, records_of(name, 8)),
                       hook=_first_call_only(mangle))
    assert_ledger(run)
    assert run.unmatched_errors == 1 and len(run.written) == 8


def test_connect_values_missing_from_the_success_list_are_not_receipts():
    def drop_successes(parsed, model):
        parsed["Successful"] = []

    service = ConnectDataTableService()

    def always(http_response=None, parsed=None, model=None, **_):
        if model is not None and model.name == "BatchCreateDataTableValue":
            drop_successes(parsed, model)

    with Emulator() as emulator:
        run = send_all(emulator, service, prepared(service, records_of("connect", 5)),
                       hook=always)
    # The emulator stored them; the writer never saw a confirmation: no receipts.
    assert_ledger(run, none_held_dead_lettered=False)
    assert run.written == [] and {c for _, c, _ in run.failed} == {NOT_CONFIRMED_CODE}


def test_unplaced_errors_that_persist_are_dead_lettered_as_unmatched():
    service = IoTEventsService()

    def always(http_response=None, parsed=None, model=None, **_):
        if model is not None and model.name == "BatchPutMessage":
            _stranger_iotevents(parsed, model)

    with Emulator() as emulator:
        run = send_all(emulator, service, prepared(service, records_of("iotevents-data", 4)),
                       hook=always)
    assert_ledger(run, none_held_dead_lettered=False)
    assert run.written == [] and {c for _, c, _ in run.failed} == {UNMATCHED_ERROR_CODE}
    assert run.unmatched_errors == RETRY.max_attempts


# Replays after an ambiguous failure

REPLAY_ANSWERS = [("iotsitewise", None), ("datazone", None), ("iotevents-data", None),
                  ("connect", "success"), ("connect", "failed"), ("connect", "exception"),
                  ("iottwinmaker", "overwrite"), ("iottwinmaker", "conflict")]


@pytest.mark.parametrize("name, answer", REPLAY_ANSWERS)
def test_a_replayed_request_settles_every_value_the_service_holds_as_written(name, answer):
    service = _SERVICES[name]()
    items = prepared(service, records_of(name, 30))
    replay = {name: answer} if answer else None
    with Emulator(replay_answers=replay) as emulator:
        # The first attempt of half the records was stored; its answer was lost.
        write_directly(emulator, service, items[:15])
        run = send_all(emulator, service, items)
    assert_ledger(run)
    assert len(run.written) == 30


@pytest.mark.parametrize("name, answer", [
    ("connect", "success"), ("connect", "failed"), ("connect", "exception"),
    ("iottwinmaker", "overwrite"), ("iottwinmaker", "conflict")])
def test_a_value_held_otherwise_is_never_a_receipt(name, answer):
    service = _SERVICES[name]()
    items = prepared(service, records_of(name, 12))
    others = prepared(service, [dict(r, value=_other(r["value"])) for r in records_of(name, 4)])
    with Emulator(replay_answers={name: answer}) as emulator:
        write_directly(emulator, service, others)
        run = send_all(emulator, service, items)
    assert_ledger(run)
    overwritten = answer == "overwrite"
    assert len(run.written) == (12 if overwritten else 8)
    if not overwritten:
        assert {c for _, c, _ in run.failed} <= {"ConflictException",
                                                 "DuplicateResourceException"}


def _other(value: Any) -> Any:
    return value + 0.5 if isinstance(value, float) else "other-%s" % value


@pytest.mark.parametrize("name, answer", REPLAY_ANSWERS)
def test_answers_later_than_the_read_timeout_keep_the_ledger(name, answer):
    """Seeded late answers: the service stores the request, the client times
    out, and botocore's and the writer's retries replay it."""
    service = _SERVICES[name]()
    faults = {name: FaultConfig(slow_response_rate=0.3, slow_response_ms=300, seed=4)}
    with Emulator(faults=faults, replay_answers={name: answer} if answer else None) as emulator:
        run = send_all(emulator, service, prepared(service, records_of(name, 30)),
                       read_timeout=0.15)
    # A record whose every attempt timed out may be stored and dead-lettered:
    # the writer never learnt it was stored. Receipts must still be true.
    assert_ledger(run, none_held_dead_lettered=False)
    assert run.written, "no record was written at all"


def test_sitewise_the_empty_string_is_written_and_stored_as_sent():
    service = SiteWiseService()
    records = [dict(r, value="") for r in records_of("iotsitewise", 3)]
    with Emulator() as emulator:
        run = send_all(emulator, service, prepared(service, records))
    assert_ledger(run)
    assert len(run.written) == 3
