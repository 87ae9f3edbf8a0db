"""Values refused as "already exists" are read back: written only when held as sent."""

import pytest

from beam_batchput import RetryConfig, Stage
from beam_batchput.core.packing import pack
from beam_batchput.core.sender import RequestSender
from beam_batchput.services.connect import ConnectDataTableService
from beam_batchput.services.twinmaker import TwinMakerService
from tests.clocks import FakeClock
from tests import fakes

INSTANCE = "a1b2c3d4-0000-4000-8000-000000000001"
NOW = 1_700_000_000


def connect_request(values):
    service = ConnectDataTableService()
    items = [service.item({"instance_id": INSTANCE, "data_table_id": "t",
                           "attribute_name": "a", "value": value,
                           "primary_values": {"id": "r%d" % n}})
             for n, value in enumerate(values)]
    (request,) = pack(items, service.limits, service.entry_id)
    return service, request


def row(n, value):
    return {"PrimaryValues": [{"AttributeName": "id", "Value": "r%d" % n}],
            "AttributeName": "a", "Value": value, "RecordId": "rec%d" % n}


class ConnectTable:
    """A Connect fake: ``stored`` rows; creating refuses what exists with ``answer``."""

    def __init__(self, stored, answer, list_error=None):
        self.stored = dict(stored)
        self.answer, self.list_error = answer, list_error

    def __call__(self, method, kwargs, number):
        if method == "list_data_table_values":
            if self.list_error:
                raise fakes.client_error(*self.list_error)
            wanted = {f["Values"][0] for f in kwargs.get("PrimaryAttributeValues", [])}
            return {"Values": [row(n, v) for n, v in self.stored.items()
                               if "r%d" % n in wanted]}
        numbers = [int(v["PrimaryValues"][0]["Value"][1:]) for v in kwargs["Values"]]
        existing = [n for n in numbers if n in self.stored]
        if existing and self.answer == "exception":
            raise fakes.client_error("DuplicateResourceException", 409)
        ok, failed = [], []
        for n, value in zip(numbers, kwargs["Values"]):
            if n in self.stored:
                failed.append(dict(row(n, value["Value"]),
                                   Message="DuplicateResourceException: exists"))
            else:
                self.stored[n] = value["Value"]
                ok.append(row(n, value["Value"]))
        return {"Successful": ok, "Failed": failed}


def send(name, service, request, behaviour):
    fakes.reset(name)
    sender = RequestSender(service, RetryConfig(), clock=FakeClock())
    return sender.send(fakes.FakeClient(name, behaviour), request)


@pytest.mark.parametrize("answer", ["exception", "failed"])
def test_values_held_as_sent_are_written_and_new_ones_sent_again(answer):
    service, request = connect_request(["x0", "x1", "x2"])
    table = ConnectTable({0: "x0", 1: "x1"}, answer)
    outcome = send("replay-" + answer, service, request, table)
    assert sorted(s.item.payload["Value"] for s in outcome.written) == ["x0", "x1", "x2"]
    assert outcome.failed == [] and table.stored[2] == "x2"


@pytest.mark.parametrize("answer", ["exception", "failed"])
def test_a_value_held_otherwise_is_dead_lettered_saying_so(answer):
    service, request = connect_request(["x0", "x1"])
    outcome = send("other-" + answer, service, request, ConnectTable({0: "other"}, answer))
    assert [s.item.payload["Value"] for s in outcome.written] == ["x1"]
    (letter,) = outcome.failed
    assert letter.item.payload["Value"] == "x0"
    assert letter.code == "DuplicateResourceException"
    assert "holds another value" in letter.message
    assert letter.stage == (Stage.REQUEST if answer == "exception" else Stage.ENTRY)


def test_a_read_back_that_is_denied_never_becomes_a_receipt():
    service, request = connect_request(["x0"])
    table = ConnectTable({0: "x0"}, "failed", list_error=("AccessDeniedException", 403))
    outcome = send("denied", service, request, table)
    assert outcome.written == []
    (letter,) = outcome.failed
    assert "reading the value back" in letter.message and "AccessDenied" in letter.message


def test_a_read_back_that_times_out_is_retried_then_settled():
    service, request = connect_request(["x0"])
    table = ConnectTable({0: "x0"}, "failed")
    calls = []

    def flaky(method, kwargs, number):
        if method == "list_data_table_values" and not calls:
            calls.append(number)
            raise fakes.client_error("ThrottlingException", 429)
        return table(method, kwargs, number)

    outcome = send("flaky-read", service, request, flaky)
    assert [s.attempts for s in outcome.written] == [2] and outcome.failed == []


def test_twinmaker_a_conflict_at_a_time_holding_the_value_sent_is_written():
    service = TwinMakerService()
    items = [service.item({"workspace_id": "ws", "entity_id": "pump", "component_name": "c",
                           "property_name": "p", "value": float(n), "timestamp": NOW + n})
             for n in range(3)]
    (request,) = pack(items, service.limits, service.entry_id)
    stored = {items[0].payload["time"]: {"doubleValue": 0.0}}

    def twin(method, kwargs, number):
        if method == "get_property_value_history":
            return {"propertyValues": [{"entityPropertyReference": {"propertyName": "p"},
                                        "values": [{"time": t, "value": v}
                                                   for t, v in stored.items()]}]}
        entry = kwargs["entries"][0]
        if any(v["time"] in stored for v in entry["propertyValues"]):
            return {"errorEntries": [{"errors": [{"errorCode": "ConflictException",
                                                  "errorMessage": "exists", "entry": entry}]}]}
        stored.update((v["time"], v["value"]) for v in entry["propertyValues"])
        return {"errorEntries": []}

    outcome = send("twin", service, request, twin)
    assert len(outcome.written) == 3 and outcome.failed == []
    assert [s.attempts for s in sorted(outcome.written, key=lambda s: s.item.sort_key)] == [
        1, 2, 2]


def _values(settled):
    return sorted((s.item.payload["Value"], s.attempts) for s in settled)


def test_a_whole_request_refused_while_nothing_is_held_is_halved_down_to_the_refused_record():
    # The service refuses any request holding r1 as a duplicate, though it holds
    # nothing of the request: no replay, so halving isolates r1.
    service, request = connect_request(["x0", "x1", "x2", "x3"])

    def refuses_r1(method, kwargs, number):
        if method == "list_data_table_values":
            return {"Values": []}
        if any(v["PrimaryValues"][0]["Value"] == "r1" for v in kwargs["Values"]):
            raise fakes.client_error("DuplicateResourceException", 409, "r1 clashes")
        return {"Successful": [dict(v, RecordId="rec") for v in kwargs["Values"]],
                "Failed": []}

    outcome = send("nothing-held", service, request, refuses_r1)
    assert _values(outcome.written) == [("x0", 1), ("x2", 1), ("x3", 1)]
    assert [(s.item.payload["Value"], s.attempts, s.code, s.message, s.stage)
            for s in outcome.failed] == [
        ("x1", 1, "DuplicateResourceException", "r1 clashes", Stage.REQUEST)]
    # Four records, then two halves, then r0 and r1 alone: two splits.
    assert outcome.split_requests == 2
    assert [sorted(v["Value"] for v in c["kwargs"]["Values"])
            for c in fakes.calls("nothing-held") if c["method"] == service.method
            ] == [["x0", "x1", "x2", "x3"], ["x0", "x1"], ["x0"], ["x1"], ["x2", "x3"]]


def test_a_whole_request_refused_as_a_replay_settles_each_record_on_the_first_attempt():
    service, request = connect_request(["x0", "x1", "x2"])
    table = ConnectTable({0: "x0", 1: "other"}, "exception")
    outcome = send("replay-mixed", service, request, table)
    assert _values(outcome.written) == [("x0", 1), ("x2", 1)]
    assert [(s.item.payload["Value"], s.attempts, s.code, s.message, s.stage)
            for s in outcome.failed] == [
        ("x1", 1, "DuplicateResourceException",
         "injected (read back: the service holds another value)", Stage.REQUEST)]
    assert table.stored == {0: "x0", 1: "other", 2: "x2"}


@pytest.mark.parametrize("attempts", [1, 2])
def test_a_whole_request_refused_while_the_read_back_is_throttled_is_retried(attempts):
    service, request = connect_request(["x0"])
    table = ConnectTable({0: "x0"}, "exception")
    reads = []

    def throttled_read(method, kwargs, number):
        if method == "list_data_table_values" and not reads:
            reads.append(number)
            raise fakes.client_error("ThrottlingException", 429, "slow down")
        return table(method, kwargs, number)

    fakes.reset("read-throttled")
    outcome = RequestSender(service, RetryConfig(max_attempts=attempts), clock=FakeClock()).send(
        fakes.FakeClient("read-throttled", throttled_read), request)
    # The put was refused, not throttled: the retry counts no throttled time.
    assert outcome.throttled_seconds == 0.0
    if attempts == 2:
        assert _values(outcome.written) == [("x0", 2)] and outcome.failed == []
        return
    assert outcome.written == []
    assert [(s.attempts, s.code, s.message, s.stage) for s in outcome.failed] == [
        (1, "DuplicateResourceException",
         "injected (reading the value back to tell a replay from a conflict failed: "
         "ThrottlingException: slow down)", Stage.RETRIES_EXHAUSTED)]


def test_entries_refused_as_duplicates_are_settled_by_what_is_held_and_others_keep_their_code():
    service, request = connect_request(["x0", "x1", "x2", "x3", "x4"])
    stored = {0: "x0", 1: "other"}
    refusals = {2: ["DuplicateResourceException: lock version"],  # nothing held: sent again
                3: ["ValidationException: bad value"] * 3}

    def table(method, kwargs, number):
        if method == "list_data_table_values":
            wanted = {f["Values"][0] for f in kwargs["PrimaryAttributeValues"]}
            return {"Values": [row(n, v) for n, v in stored.items() if "r%d" % n in wanted]}
        ok, failed = [], []
        for value in kwargs["Values"]:
            n = int(value["PrimaryValues"][0]["Value"][1:])
            if n in stored:
                failed.append(dict(row(n, value["Value"]),
                                   Message="DuplicateResourceException: exists"))
            elif refusals.get(n):
                failed.append(dict(row(n, value["Value"]), Message=refusals[n].pop(0)))
            else:
                stored[n] = value["Value"]
                ok.append(row(n, value["Value"]))
        return {"Successful": ok, "Failed": failed}

    outcome = send("entries-mixed", service, request, table)
    assert _values(outcome.written) == [("x0", 1), ("x2", 2), ("x4", 1)]
    assert sorted((s.item.payload["Value"], s.attempts, s.code, s.message, s.stage)
                  for s in outcome.failed) == [
        ("x1", 1, "DuplicateResourceException",
         "DuplicateResourceException: exists (read back: the service holds another value)",
         Stage.ENTRY),
        ("x3", 1, "ValidationException", "ValidationException: bad value", Stage.ENTRY)]
    assert outcome.throttled_seconds == 0.0
