"""Prebuilt bodies' guards: which clients take them, the handler registered once, calls it
leaves alone (other operations, other threads, a nested call), and the errors naming what
went wrong."""

import re
import threading
import types

import pytest
from botocore.serialize import create_serializer

from beam_batchput import RetryConfig
from beam_batchput.core import prebuilt
from beam_batchput.core.sender import RequestSender
from beam_batchput.services.sitewise import SiteWiseService
from tests.clocks import FakeClock
from tests.unit.test_prebuilt import (  # noqa: F401 # the fixture signs at a fixed time
    NOW,
    _client,
    _frozen_signing,
    _Raw,
    _records,
    _request,
)

OPERATION = "BatchPutAssetPropertyValue"


def _swap_handlers(client) -> list:
    handlers = client.meta.events._emitter._handlers.prefix_search(
        "before-call.iotsitewise.%s" % OPERATION)
    return [h for h in handlers if h is prebuilt._swap_body]


def test_a_client_built_by_the_writer_takes_prebuilt_bodies_and_registers_the_swap_once():
    client = _client([])
    assert prebuilt.accepts(client) is True
    assert prebuilt.enable(client) is True  # again: still one handler
    assert len(_swap_handlers(client)) == 1


class _Events:
    def __init__(self):
        self.registered = []

    def register_first(self, *args, **kwargs):
        self.registered.append(args)


@pytest.mark.parametrize("serializer, events", [
    (None, _Events()),  # not where this botocore keeps it
    (object(), _Events()),
    (create_serializer("json", include_validation=False), None),  # no events
])
def test_a_client_not_shaped_as_botocore_builds_them_is_left_alone(serializer, events):
    client = types.SimpleNamespace(_serializer=serializer,
                                   meta=types.SimpleNamespace(events=events))
    assert prebuilt.enable(client) is False
    assert prebuilt.accepts(client) is False
    assert events is None or events.registered == []


def test_a_placeholder_serialized_otherwise_is_named_with_both_bodies():
    client = _client([])

    def add_entry(params, **kwargs):
        params["entries"] = [{"entryId": "x", "propertyAlias": "/p", "propertyValues": []}]

    client.meta.events.register("before-parameter-build.iotsitewise", add_entry)
    service = SiteWiseService(clock=FakeClock(NOW))
    with pytest.raises(prebuilt.PrebuiltBodyError) as raised:
        RequestSender(service, RetryConfig()).send(client, _request(service, _records()[:2]))
    assert re.fullmatch(
        r"botocore serialized the placeholder of BatchPutAssetPropertyValue as "
        r"b'\{\"entries\": ?\[\{.*\"entryId\": ?\"x\".*\}\].*\}', "
        r"not as b'\{\"entries\": \[\], \"enablePartialEntryProcessing\": true\}': "
        r"the prebuilt body cannot replace it, and nothing was sent", str(raised.value))


def test_a_call_answered_before_the_swap_names_its_operation():
    from botocore.awsrequest import AWSResponse

    client = _client([])

    def answer_first(**kwargs):
        return AWSResponse("http://x", 200, {}, _Raw(b"{}")), {"errorEntries": []}

    client.meta.events.register("before-call.iotsitewise.%s" % OPERATION, answer_first)
    service = SiteWiseService(clock=FakeClock(NOW))
    with pytest.raises(prebuilt.PrebuiltBodyError) as raised:
        RequestSender(service, RetryConfig()).send(client, _request(service, _records()[:2]))
    assert str(raised.value) == (
        "BatchPutAssetPropertyValue returned without the prebuilt body in place: a "
        "before-call handler answered the call before the writer's")


def test_a_plain_call_on_a_thread_that_never_sent_a_prebuilt_body_passes_untouched():
    sent, errors = [], []
    client = _client(sent)

    def plain_call():
        try:
            client.batch_put_asset_property_value(entries=[{
                "entryId": "e", "propertyAlias": "/p", "propertyValues": [{
                    "value": {"doubleValue": 1.0}, "timestamp": {"timeInSeconds": NOW},
                    "quality": "GOOD"}]}])
        except Exception as error:  # noqa: BLE001 # reported below
            errors.append(error)

    thread = threading.Thread(target=plain_call)
    thread.start()
    thread.join(60)
    assert errors == [] and len(sent) == 1


@pytest.fixture
def pending():
    """A prebuilt body pending for OPERATION on this thread, as prebuilt.call leaves it."""
    entry = [b'{"entries": []}', b'{"entries": [1]}', OPERATION, False]
    prebuilt._LOCAL.pending = entry
    yield entry
    prebuilt._LOCAL.pending = None


def test_a_call_of_another_operation_or_without_a_model_is_left_alone(pending):
    for model in (types.SimpleNamespace(name="ListAssets"), None):
        params = {"body": b'{"other": true}'}
        assert prebuilt._swap_body(params=params, model=model) is None
        assert params == {"body": b'{"other": true}'}
    assert pending[3] is False


def test_the_body_is_swapped_once_and_a_nested_call_is_left_alone(pending):
    model = types.SimpleNamespace(name=OPERATION)
    params = {"body": b'{"entries": []}'}
    prebuilt._swap_body(params=params, model=model)
    assert params == {"body": b'{"entries": [1]}'} and pending[3] is True
    nested = {"body": b'{"entries": []}'}
    assert prebuilt._swap_body(params=nested, model=model) is None
    assert nested == {"body": b'{"entries": []}'}
