"""One send of a request whose records are on different attempts (as the send loop sends
them): every record settled carries its own count of sends, whether the answer wrote it,
refused it, or the whole request failed."""

from beam_batchput import RetryConfig
from beam_batchput.core.sender import RequestSender
from tests import fakes
from tests.clocks import FakeClock
from tests.unit.test_verdict import _request


def _attempt(name, behaviour, sends):
    service, request = _request("a", "b", "c")
    attempts = {id(item): sends[item.payload] for item in request.items}
    fakes.reset(name)
    sender = RequestSender(service, RetryConfig(), clock=FakeClock(), random=lambda: 1.0)
    return sender.attempt(fakes.FakeClient(name, behaviour), request, attempts)


def test_records_written_or_refused_by_the_answer_carry_their_own_sends():
    def answer(method, kwargs, number):
        return {"errors": [["a", "ValidationException"], ["b", "ThrottlingException"]]}

    outcome, to_retry = _attempt("own-sends", answer, {"a": 3, "b": 2, "c": 5})
    assert [(s.item.payload, s.code, s.attempts) for s in outcome.failed] == [
        ("a", "ValidationException", 3)]
    assert [(s.item.payload, s.attempts) for s in outcome.written] == [("c", 5)]
    assert [(item.payload, code) for item, code, _, _ in to_retry] == [
        ("b", "ThrottlingException")]


def test_records_of_a_request_failed_whole_carry_their_own_sends():
    outcome, to_retry = _attempt("whole", fakes.RaisingClient("AccessDeniedException", 403),
                                 {"a": 3, "b": 1, "c": 2})
    assert to_retry == [] and outcome.written == []
    assert sorted((s.item.payload, s.code, s.attempts, s.stage) for s in outcome.failed) == [
        ("a", "AccessDeniedException", 3, "request"),
        ("b", "AccessDeniedException", 1, "request"),
        ("c", "AccessDeniedException", 2, "request")]
