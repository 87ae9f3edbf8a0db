"""Fake boto3 clients named by behaviour, shared by unit and pipeline tests.

Pipelines pickle their DoFns, so a fake records its calls in a module-level
journal keyed by name, where the test reads them back.
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

JOURNAL: Dict[str, List[Dict[str, Any]]] = {}
_LOCK = threading.Lock()


def client_error(code: str, status: int, message: str = "injected") -> ClientError:
    """A ClientError as botocore raises it."""
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "Operation")


def calls(name: str) -> List[Dict[str, Any]]:
    """The requests a named fake has received, in order."""
    with _LOCK:
        return list(JOURNAL.get(name, []))


def reset(name: str) -> None:
    with _LOCK:
        JOURNAL[name] = []


class FakeClient:
    """Answers every method call with ``behaviour(method, kwargs, call_number)``."""

    def __init__(self, name: str, behaviour: Callable[[str, Dict[str, Any], int], Any]) -> None:
        self._name = name
        self._behaviour = behaviour

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)

        def call(**kwargs: Any) -> Any:
            with _LOCK:
                journal = JOURNAL.setdefault(self._name, [])
                journal.append({"method": method, "kwargs": copy.deepcopy(kwargs)})
                number = len(journal)
            return self._behaviour(method, kwargs, number)

        return call


class FakeClientFactory:
    """Picklable client factory for pipelines."""

    def __init__(self, name: str, behaviour: Callable[[str, Dict[str, Any], int], Any]) -> None:
        self.name = name
        self._behaviour = behaviour

    def __call__(self) -> FakeClient:
        return FakeClient(self.name, self._behaviour)


def accept_all(method: str, kwargs: Dict[str, Any], number: int) -> Dict[str, Any]:
    """A service that accepts everything (SiteWise-shaped answer)."""
    return {"errorEntries": []}


class SiteWiseEntryErrors:
    """SiteWise answers naming per-alias errors.

    Args:
        plan: alias → list of error codes, one per attempt of that alias's
            points; past the list's end the points are accepted.
    """

    def __init__(self, plan: Dict[str, List[str]]) -> None:
        self._plan = plan

    def __call__(self, method: str, kwargs: Dict[str, Any], number: int) -> Dict[str, Any]:
        errors = []
        with _LOCK:
            for entry in kwargs["entries"]:
                alias = entry.get("propertyAlias")
                codes = self._plan.get(alias)
                if not codes:
                    continue
                code = codes.pop(0) if len(codes) > 0 else None
                if code is None:
                    continue
                errors.append({"entryId": entry["entryId"], "errors": [{
                    "errorCode": code, "errorMessage": "injected %s" % code,
                    "timestamps": [v["timestamp"] for v in entry["propertyValues"]]}]})
        return {"errorEntries": errors}


class RaisingClient:
    """Raises a ClientError for the first ``times`` calls, then accepts."""

    def __init__(self, code: str, status: int, times: Optional[int] = None) -> None:
        self._code, self._status, self._times = code, status, times

    def __call__(self, method: str, kwargs: Dict[str, Any], number: int) -> Dict[str, Any]:
        if self._times is None or number <= self._times:
            raise client_error(self._code, self._status)
        return {"errorEntries": []}


class _RawBody:
    """The raw HTTP body botocore reads a response from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def answer_in_process(client: Any, status: int, body: bytes) -> List[Any]:
    """Answers every request of a real botocore client in its before-send hook,
    so nothing leaves the process; returns the list the sent requests land in."""
    return answer_each(client, lambda request: (status, body))


def answer_each(client: Any, respond: Callable[[Any], Tuple[int, bytes]]) -> List[Any]:
    """Like :func:`answer_in_process`, with ``respond(request) -> (status, body)``
    deciding each answer; returns the list the sent requests land in."""
    sent: List[Any] = []

    def answer(request: Any, **_: Any) -> AWSResponse:
        sent.append(request)
        status, body = respond(request)
        return AWSResponse(request.url, status, {}, _RawBody(body))

    client.meta.events.register("before-send", answer)
    return sent
