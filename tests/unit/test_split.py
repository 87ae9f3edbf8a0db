"""Requests refused whole for their content are halved until the refused records stand alone."""

import json
import math

import pytest

from beam_batchput import RetryConfig, Stage
from beam_batchput.core.packing import pack
from beam_batchput.core.sender import RequestSender
from beam_batchput.services.connect import ConnectDataTableService
from beam_batchput.services.datazone import DataZoneService
from tests.clocks import FakeClock
from tests import fakes

NOW = 1_700_000_000
INSTANCE = "a1b2c3d4-0000-4000-8000-000000000001"


def datazone_request(count, bad):
    service = DataZoneService(max_forms_per_request=max(count, 1))
    items = [service.item({
        "domain_id": "dzd_4p9n6sw4qt9xgn", "entity_type": "ASSET", "entity_id": "e1",
        "form_name": "f%03d" % n, "type_identifier": "amazon.datazone.DataQualityResultFormType",
        "timestamp": NOW + n, "content": {"n": n, "bad": n in bad}}) for n in range(count)]
    (request,) = pack(items, service.limits, service.entry_id)
    return service, request


def refuse_bad_forms(code, status):
    """DataZone refusing a request whole when any form in it is bad."""
    def answer(method, kwargs, number):
        if any(json.loads(form["content"])["bad"] for form in kwargs["forms"]):
            raise fakes.client_error(code, status, "form content fails validation")
        return {}
    return answer


def send(name, service, request, behaviour):
    fakes.reset(name)
    sender = RequestSender(service, RetryConfig(), clock=FakeClock())
    return sender.send(fakes.FakeClient(name, behaviour), request), len(fakes.calls(name))


def numbers(settled):
    return sorted(json.loads(s.item.payload["content"])["n"] for s in settled)


@pytest.mark.parametrize("count", [2, 3, 7, 10, 16, 25])
def test_one_bad_form_costs_at_most_two_log2_n_extra_requests(count):
    bound = 2 * math.ceil(math.log2(count))
    for position in range(count):
        service, request = datazone_request(count, {position})
        outcome, calls = send("dz-split", service, request,
                              refuse_bad_forms("ValidationException", 400))
        assert numbers(outcome.failed) == [position]
        assert numbers(outcome.written) == [n for n in range(count) if n != position]
        (letter,) = outcome.failed
        assert (letter.code, letter.stage) == ("ValidationException", Stage.REQUEST)
        assert calls - 1 <= bound, (count, position, calls)
        assert outcome.split_requests >= 1


def test_two_bad_forms_among_ten_are_isolated():
    service, request = datazone_request(10, {2, 7})
    outcome, calls = send("dz-two", service, request,
                          refuse_bad_forms("ValidationException", 400))
    assert numbers(outcome.failed) == [2, 7]
    assert len(outcome.written) == 8
    assert calls - 1 <= 2 * 2 * math.ceil(math.log2(10))


@pytest.mark.parametrize("code,status", [("AccessDeniedException", 403),
                                         ("ResourceNotFoundException", 404),
                                         ("UnauthorizedException", 401)])
def test_denied_and_not_found_are_not_split(code, status):
    service, request = datazone_request(10, set(range(10)))
    outcome, calls = send("dz-denied", service, request, refuse_bad_forms(code, status))
    assert calls == 1 and outcome.split_requests == 0
    assert len(outcome.failed) == 10 and {s.code for s in outcome.failed} == {code}


def test_halves_that_are_throttled_are_retried_not_dead_lettered():
    service, request = datazone_request(4, {0})
    refuse = refuse_bad_forms("ValidationException", 400)

    def answer(method, kwargs, number):
        if number == 3:
            raise fakes.client_error("ThrottlingException", 429)
        return refuse(method, kwargs, number)

    outcome, _ = send("dz-throttled", service, request, answer)
    assert numbers(outcome.failed) == [0] and numbers(outcome.written) == [1, 2, 3]


def test_connect_whole_request_400s_are_split_to_the_bad_value():
    service = ConnectDataTableService()
    items = [service.item({"instance_id": INSTANCE, "data_table_id": "routing",
                           "attribute_name": "priority", "value": "bad" if n == 11 else str(n),
                           "primary_values": {"queue": "q%02d" % n}}) for n in range(25)]
    (request,) = pack(items, service.limits, service.entry_id)

    def answer(method, kwargs, number):
        if any(v["Value"] == "bad" for v in kwargs["Values"]):
            raise fakes.client_error("InvalidParameterException", 400)
        return {"Failed": [], "Successful": [
            {"PrimaryValues": v["PrimaryValues"], "AttributeName": v["AttributeName"],
             "RecordId": "r", "LockVersion": {"Value": "1"}} for v in kwargs["Values"]]}

    outcome, calls = send("connect-split", service, request, answer)
    assert [s.item.payload["Value"] for s in outcome.failed] == ["bad"]
    assert len(outcome.written) == 24
    assert calls - 1 <= 2 * math.ceil(math.log2(25))
