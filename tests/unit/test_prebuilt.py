"""Prebuilt request bodies: what goes over the wire is what botocore itself would send."""

import datetime
import json

import botocore.auth
import pytest
from botocore.awsrequest import AWSResponse

from beam_batchput import ClientConfig, RetryConfig
from beam_batchput.core import prebuilt
from beam_batchput.core.packing import pack
from beam_batchput.core.sender import RequestSender
from beam_batchput.services.sitewise import SiteWiseService
from tests.clocks import FakeClock

NOW = 1_700_000_000
ASSET = "a1b2c3d4-0000-4000-8000-000000000001"
PROP = "a1b2c3d4-0000-4000-8000-000000000002"
# Headers that differ from call to call whatever the body: ids, attempt counts, agent.
_PER_CALL = {"amz-sdk-invocation-id", "amz-sdk-request", "User-Agent"}


class _Raw:
    def __init__(self, body):
        self._body = body

    def stream(self, **kwargs):
        yield self._body


def _client(sent, answers=None, **config):
    """A real SiteWise client whose requests are recorded and answered in process."""
    client = ClientConfig(region_name="us-east-1", endpoint_url="http://sitewise.invalid",
                          **config).create_client("iotsitewise")
    answers = list(answers or [])

    def answer(request, **kwargs):
        sent.append(request)
        status, body = answers.pop(0) if answers else (200, {"errorEntries": []})
        return AWSResponse(request.url, status, {"content-type": "application/json"},
                           _Raw(json.dumps(body).encode()))

    client.meta.events.register("before-send", answer)
    return client


@pytest.fixture(autouse=True)
def _frozen_signing(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    moment = datetime.datetime(2023, 11, 14, 22, 13, 20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: moment)


def _request(service, records):
    items = [service.item(r) for r in records]
    (request,) = pack(items, service.limits, service.entry_id)
    return request


def _records():
    points = [{"property_alias": "/plant/t%d/power" % (n % 3), "value": n * 1.25,
               "timestamp": NOW - n / 7} for n in range(20)]
    points += [{"asset_id": ASSET, "property_id": PROP, "value": 7, "timestamp": NOW},
               {"property_alias": "/plant/é", "value": "ünï", "timestamp": NOW - 1,
                "quality": "UNCERTAIN"},
               {"property_alias": "/plant/n", "value": None, "value_type": "BOOLEAN",
                "timestamp": NOW - 2, "quality": "BAD"},
               {"property_alias": "/plant/b", "value": False, "timestamp": NOW - 3},
               {"property_alias": "/plant/nan", "value": float("nan"), "timestamp": NOW - 4}]
    return points


def _wire(request):
    headers = {k: v for k, v in request.headers.items() if k not in _PER_CALL}
    return request.method, request.url, request.body, headers


@pytest.mark.parametrize("partial", [True, False])
def test_the_prebuilt_request_is_the_one_botocore_sends_signed_alike(partial):
    service = SiteWiseService(enable_partial_entry_processing=partial, clock=FakeClock(NOW))
    request = _request(service, _records())
    fast, plain = [], []
    fast_client = _client(fast)
    assert prebuilt.accepts(fast_client)
    RequestSender(service, RetryConfig()).send(fast_client, request)
    # The same request the usual way: botocore serializes the keyword arguments.
    _client(plain).batch_put_asset_property_value(
        **service.build_request(request.scope, request.entries))
    assert len(fast) == len(plain) == 1
    assert _wire(fast[0]) == _wire(plain[0])
    assert fast[0].headers["Authorization"] == plain[0].headers["Authorization"]
    sent = json.loads(fast[0].body)
    assert sent["enablePartialEntryProcessing"] is partial
    assert sum(len(e["propertyValues"]) for e in sent["entries"]) == len(_records())


def test_a_retry_inside_botocore_resends_the_prebuilt_body():
    service = SiteWiseService(clock=FakeClock(NOW))
    request = _request(service, _records()[:5])
    sent = []
    client = _client(sent, answers=[(500, {"message": "busy"}), (200, {"errorEntries": []})])
    outcome = RequestSender(service, RetryConfig()).send(client, request)
    assert len(outcome.written) == 5
    assert len(sent) == 2
    assert sent[0].body == sent[1].body == service.request_body(request.scope, request.entries)


def test_a_refused_call_raises_as_botocore_raises_it():
    service = SiteWiseService(clock=FakeClock(NOW))
    request = _request(service, _records()[:3])
    sent = []
    client = _client(sent, answers=[(403, {"__type": "AccessDeniedException", "message": "no"})], botocore_max_attempts=1)
    outcome = RequestSender(service, RetryConfig()).send(client, request)
    assert [s.code for s in outcome.failed] == ["AccessDeniedException"] * 3
    assert json.loads(sent[0].body)["entries"]


def test_a_validating_client_is_called_with_the_full_arguments():
    sent = []
    client = _client(sent, parameter_validation=True)
    assert not prebuilt.accepts(client)
    service = SiteWiseService(clock=FakeClock(NOW))
    request = _request(service, _records()[:3])
    outcome = RequestSender(service, RetryConfig()).send(client, request)
    assert len(outcome.written) == 3
    assert sent[0].body == service.request_body(request.scope, request.entries)


def test_clients_not_built_by_the_writer_are_left_alone():
    class Fake:
        pass

    assert not prebuilt.enable(Fake())
    assert not prebuilt.accepts(Fake())


def test_the_swap_handler_runs_first_before_every_other_before_call_handler():
    client = _client([])
    handlers = client.meta.events._emitter._handlers.prefix_search(
        "before-call.iotsitewise.BatchPutAssetPropertyValue")
    assert handlers[0] is prebuilt._swap_body


def test_a_placeholder_serialized_otherwise_raises_before_anything_is_sent():
    sent = []
    client = _client(sent)

    def add_entry(params, **kwargs):
        params["entries"] = [{"entryId": "x", "propertyAlias": "/p", "propertyValues": []}]

    client.meta.events.register("before-parameter-build.iotsitewise", add_entry)
    service = SiteWiseService(clock=FakeClock(NOW))
    request = _request(service, _records()[:2])
    with pytest.raises(prebuilt.PrebuiltBodyError, match="nothing was sent"):
        RequestSender(service, RetryConfig()).send(client, request)
    assert sent == []


def test_a_call_answered_before_the_swap_is_a_bug_not_a_dead_letter():
    client = _client([])

    def answer_first(**kwargs):
        return AWSResponse("http://x", 200, {}, _Raw(b"{}")), {"errorEntries": []}

    client.meta.events.register("before-call.iotsitewise.BatchPutAssetPropertyValue",
                                answer_first)
    # botocore runs handlers of the most specific name first: this one answers.
    service = SiteWiseService(clock=FakeClock(NOW))
    request = _request(service, _records()[:2])
    with pytest.raises(prebuilt.PrebuiltBodyError, match="returned without"):
        RequestSender(service, RetryConfig()).send(client, request)


def test_calls_without_a_pending_body_pass_the_handler_untouched():
    sent = []
    client = _client(sent)
    client.batch_put_asset_property_value(entries=[{
        "entryId": "e", "propertyAlias": "/p", "propertyValues": [{
            "value": {"doubleValue": 1.0}, "timestamp": {"timeInSeconds": NOW},
            "quality": "GOOD"}]}])
    assert json.loads(sent[0].body)["entries"][0]["entryId"] == "e"
    params = {"body": b"{}"}
    assert prebuilt._swap_body(params=params, model=None) is None
    assert params == {"body": b"{}"}
