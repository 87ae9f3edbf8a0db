"""One request through the emulator: inspection API, routing, signature, faults,
validation, the service handler, the log, and the answer."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
import uuid
from typing import Any, Callable, Dict, Mapping, Optional
from urllib.parse import parse_qs

from beam_batchput.emulator.auth import SigV4Verifier
from beam_batchput.emulator.errors import ServiceError
from beam_batchput.emulator.faults import (FaultConfig, FaultInjector, RequestFault,
                                           configs_from_mapping)
from beam_batchput.emulator.models import InvalidInput, Router, parse_input
from beam_batchput.emulator.quotas import Quotas, quota_configs_from_mapping
from beam_batchput.emulator.requestlog import RequestLog
from beam_batchput.emulator.services.base import ServiceHandler
from beam_batchput.emulator.store import Store

__all__ = ["Answer", "Dispatcher", "INSPECTION_PREFIX"]

_LOG = logging.getLogger(__name__)

INSPECTION_PREFIX = "/_emulator/"
_DROPPED = "ConnectionDropped"


@dataclasses.dataclass
class Answer:
    """What to send back: a status, headers and a body, perhaps late, or nothing."""

    status: int = 200
    body: bytes = b""
    headers: Dict[str, str] = dataclasses.field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


def _json_answer(status: int, document: Any, headers: Optional[Dict[str, str]] = None) -> Answer:
    body = json.dumps(document).encode("utf-8")
    all_headers = {"Content-Type": "application/json",
                   "x-amzn-RequestId": str(uuid.uuid4())}
    all_headers.update(headers or {})
    return Answer(status=status, body=body, headers=all_headers)


def _error_answer(error: ServiceError, message_key: str = "message") -> Answer:
    return _json_answer(error.status, error.body(message_key), {"x-amzn-ErrorType": error.code})


class Dispatcher:
    """Turns received requests into answers.

    Args:
        handlers: Service name → its handler.
        router: Finds the operation of a request.
        verifier: Checks signatures.
        store: The services' state (for snapshots and resets).
        log: The request log.
        sleep: Waits a number of seconds (injected latency).
        quotas: The services' throttling; None throttles nothing.
    """

    def __init__(self, handlers: Mapping[str, ServiceHandler], router: Router,
                 verifier: SigV4Verifier, store: Store, log: RequestLog,
                 sleep: Callable[[float], None] = time.sleep,
                 quotas: Optional[Quotas] = None) -> None:
        self._handlers = dict(handlers)
        self._router = router
        self._verifier = verifier
        self._store = store
        self._log = log
        self._sleep = sleep
        #: Waits a number of seconds: the emulator's clock.
        self.sleep = sleep
        self._faults_lock = threading.Lock()
        self._faults: Dict[str, FaultInjector] = {
            name: FaultInjector(FaultConfig()) for name in self._handlers}
        self.quotas = quotas or Quotas(self._handlers)

    # Faults

    def set_faults(self, service: str, config: Optional[FaultConfig]) -> None:
        """Replaces the faults of ``service`` (None: no faults), restarting its seed.

        Raises:
            ValueError: On an unknown service, or per-entry rates for a service
                without per-entry errors.
        """
        handler = self._handlers.get(service)
        if handler is None:
            raise ValueError("unknown service %r; known: %s"
                             % (service, ", ".join(sorted(self._handlers))))
        config = config or FaultConfig()
        if config.has_entry_faults and not handler.has_entry_errors:
            raise ValueError("%s answers whole requests only; entry_retryable_error_rate and "
                             "entry_fatal_error_rate must be 0 for it" % service)
        with self._faults_lock:
            self._faults[service] = FaultInjector(config)

    def faults(self) -> Dict[str, Dict[str, Any]]:
        """Service name → its fault config as a mapping."""
        with self._faults_lock:
            return {name: injector.config.to_dict() for name, injector in self._faults.items()}

    def _injector(self, service: str) -> FaultInjector:
        with self._faults_lock:
            return self._faults[service]

    # Requests

    def dispatch(self, method: str, target: str, headers: Mapping[str, str],
                 body: bytes) -> Answer:
        """The answer to one request.

        Args:
            method: The HTTP method.
            target: The request target as received (path and query, percent-encoded).
            headers: The request headers.
            body: The request body.
        """
        try:
            return self._dispatch(method, target, headers, body)
        except Exception:  # the server must answer whatever happens
            _LOG.exception("failed to handle %s %s", method, target)
            return _error_answer(ServiceError("InternalFailure", "Internal error", status=500))

    def _dispatch(self, method: str, target: str, headers: Mapping[str, str],
                  body: bytes) -> Answer:
        path, _, query = target.partition("?")
        if path.startswith(INSPECTION_PREFIX):
            return self._inspect(method.upper(), path[len(INSPECTION_PREFIX):], body)
        found = self._router.match(method, path)
        if found is None:
            record = self._log.open(None, None)
            error = ServiceError("UnknownOperationException",
                                 "No operation serves %s %s" % (method, path))
            self._log.close(record, error.status, error.code, None)
            return _error_answer(error)
        route, labels = found
        handler = self._handlers[route.service]
        name = route.operation.name
        record = self._log.open(route.service, name)
        params: Optional[Dict[str, Any]] = None
        invalid: Optional[InvalidInput] = None
        try:
            params = parse_input(route.operation, labels, parse_qs(query, keep_blank_values=True),
                                 headers, body)
        except InvalidInput as error:
            invalid = error
        try:
            self._verifier.verify(method, target, headers, body)
        except ServiceError as error:
            self._log.close(record, error.status, error.code, params)
            return _error_answer(error)
        injector = self._injector(route.service)
        if injector.config.latency_ms:
            self._sleep(injector.config.latency_ms / 1000.0)
        fault = injector.request_fault()
        delay = injector.response_delay()
        if fault is RequestFault.DROP:
            self._log.close(record, None, _DROPPED, params)
            return Answer(drop=True)
        try:
            if fault is not RequestFault.NONE:
                raise _fault_error(handler, fault)
            admission = self.quotas.admit(route.service, name,
                                          None if invalid is not None else params)
            if admission.throttled:
                raise handler.error("throttling", "Rate exceeded")
            if invalid is not None:
                raise handler.error("validation", str(invalid))
            document = admission.answer(handler.handle(name, admission.params or {}, injector))
        except ServiceError as error:
            self._log.close(record, error.status, error.code, params, delay=delay)
            answer = _error_answer(error, handler.errors.message_key)
        except Exception as error:  # a bug in a handler must still get an answer
            _LOG.exception("%s %s failed", route.service, name)
            failure = handler.error("internal", "Internal error: %s" % type(error).__name__)
            self._log.close(record, failure.status, failure.code, params, delay=delay)
            answer = _error_answer(failure, handler.errors.message_key)
        else:
            status = route.operation.http.get("responseCode", 200)
            # Implementation note: the answer is in the log, so a reader can tell
            # which entries a processed request stored, even when its client
            # timed out on a slow answer and never saw it.
            self._log.close(record, status, None, params, response=document, delay=delay)
            answer = _json_answer(status, document)
        answer.delay = delay
        return answer

    # Inspection API

    def _inspect(self, method: str, name: str, body: bytes) -> Answer:
        if (method, name) == ("GET", "store"):
            return _json_answer(200, self._store.snapshot())
        if (method, name) == ("GET", "requests"):
            return _json_answer(200, self._log.records())
        if (method, name) == ("POST", "reset"):
            self.reset()
            return _json_answer(200, {"reset": True})
        if (method, name) == ("GET", "faults"):
            return _json_answer(200, self.faults())
        if (method, name) == ("POST", "faults"):
            try:
                self._set_faults_from_json(body)
            except ValueError as error:
                return _error_answer(ServiceError("ValidationException", str(error)))
            return _json_answer(200, self.faults())
        if (method, name) == ("GET", "quotas"):
            return _json_answer(200, self.quotas.configs())
        if (method, name) == ("GET", "quota_stats"):
            return _json_answer(200, self.quotas.stats())
        if (method, name) == ("POST", "quotas"):
            try:
                for service, config in quota_configs_from_mapping(
                        _json_mapping(body), self._handlers).items():
                    self.quotas.set(service, config)
            except ValueError as error:
                return _error_answer(ServiceError("ValidationException", str(error)))
            return _json_answer(200, self.quotas.configs())
        return _error_answer(ServiceError(
            "UnknownOperationException", "No emulator operation %s /_emulator/%s" % (method, name)))

    def _set_faults_from_json(self, body: bytes) -> None:
        for service, config in configs_from_mapping(_json_mapping(body), self._handlers).items():
            self.set_faults(service, config)

    def reset(self) -> None:
        """Forgets stored data and the request log (faults and resources stay)."""
        self._store.reset()
        self._log.clear()


def _json_mapping(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8") or "{}")
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError("the body must be JSON: %s" % error) from error


def _fault_error(handler: ServiceHandler, fault: RequestFault) -> ServiceError:
    kind, message = {
        RequestFault.THROTTLE: ("throttling", "Rate exceeded"),
        RequestFault.SERVER_ERROR: ("internal", "An internal error occurred (injected fault)."),
        RequestFault.UNAVAILABLE: ("unavailable", "The service is unavailable (injected fault)."),
    }[fault]
    return handler.error(kind, message)
