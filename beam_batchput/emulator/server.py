"""The emulator: a threaded HTTP server on a loopback address."""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import os
import socket
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Union

from beam_batchput.core.clock import SYSTEM_CLOCK, CallableClock, Clock
from beam_batchput.emulator import _regex
from beam_batchput.emulator.auth import SigV4Verifier
from beam_batchput.emulator.dispatcher import Dispatcher
from beam_batchput.emulator.faults import FaultConfig, configs_from_mapping
from beam_batchput.emulator.models import Router
from beam_batchput.emulator.requestlog import RequestLog
from beam_batchput.emulator.auth import DEFAULT_CREDENTIALS
from beam_batchput.emulator.resources import (
    SERVICES,
    ConfigSource,
    canonical_service,
    load_config,
    load_mapping,
)
from beam_batchput.emulator.services import HANDLERS
from beam_batchput.emulator.store import Store

__all__ = ["Emulator", "REGION"]

#: The Region clients of the emulator sign for (it accepts any).
REGION = "us-east-1"

_LOG = logging.getLogger(__name__)

FaultsSource = Mapping[str, Union[FaultConfig, Mapping[str, Any], None]]


@functools.lru_cache(maxsize=None)
def _router() -> Router:
    """Routes are the same for every emulator; loading the models once saves time."""
    return Router({handler.service: tuple(handler.operations) for handler in HANDLERS})


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, dispatcher: Dispatcher, family: int) -> None:
        self.address_family = family
        self.dispatcher = dispatcher
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server_version = "beam-batchput-emulator"
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = self.server.dispatcher.dispatch(self.command, self.path,
                                                 dict(self.headers.items()), body)
        if answer.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if answer.delay:
            self.server.dispatcher.sleep(answer.delay)
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up first (e.g. its read timeout passed during a
            # slow answer): the request stays processed, as on AWS.
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        _LOG.debug("%s " + format, self.address_string(), *args)


class Emulator:
    """A local server speaking the five batch-put APIs over HTTP.

    Args:
        host: A loopback address to bind (127.0.0.1, ::1 or localhost).
        port: The port; 0 picks a free one.
        config: The resources: None (every resource exists), a JSON/YAML file path,
            or the mapping itself.
        credentials: Access key id → secret accepted in signatures; None means
            ``{"testing": "testing"}``.
        faults: Service name (or ``"*"`` for every service not named) → a
            :class:`FaultConfig` or its fields as a mapping; or a JSON/YAML
            file path holding that mapping.
        clock: The :class:`~beam_batchput.core.clock.Clock` of SiteWise's
            timestamp window and injected latency (a callable returning wall
            time is deprecated but accepted).
        replay_answers: Service name → how it answers a write of a value it
            already holds (``connect``: ``success``, ``failed`` or ``exception``;
            ``iottwinmaker``: ``overwrite`` or ``conflict``), over the config's
            ``replay_answer`` keys.

    Raises:
        ValueError: On a non-loopback host, a bad port, config or fault config.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, config: ConfigSource = None,
                 credentials: Optional[Mapping[str, str]] = None,
                 faults: Union[None, str, "os.PathLike[str]", FaultsSource] = None,
                 clock: Union[Clock, Callable[[], float], None] = None,
                 replay_answers: Optional[Mapping[str, str]] = None) -> None:
        if not _is_loopback(host):
            raise ValueError("host must be a loopback address, got %r" % (host,))
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError("port must be an int in [0, 65535], got %r" % (port,))
        self._host, self._port = host, port
        self._credentials = dict(DEFAULT_CREDENTIALS if credentials is None else credentials)
        if not self._credentials:
            raise ValueError("credentials must name at least one access key, got %r"
                             % (credentials,))
        _regex.prepare()
        sections = load_config(config)
        self._store = Store(SERVICES)
        self._log = RequestLog()
        if clock is not None and not isinstance(clock, Clock):
            warnings.warn("clock as a callable is deprecated; pass a Clock",
                          DeprecationWarning, stacklevel=2)
            clock = CallableClock(wall=clock)
        self._clock = clock = clock or SYSTEM_CLOCK
        replay_answers = {canonical_service(name): answer
                          for name, answer in (replay_answers or {}).items()}
        unknown = sorted(set(replay_answers) - set(SERVICES))
        if unknown:
            raise ValueError("replay_answers names unknown service(s) %s" % ", ".join(unknown))
        handlers = {cls.service: cls(sections[cls.service], self._store, clock,
                                     replay_answers.get(cls.service))
                    for cls in HANDLERS}
        self._dispatcher = Dispatcher(handlers, _router(), SigV4Verifier(credentials),
                                      self._store, self._log, sleep=clock.sleep)
        for service, spec in self._fault_configs(faults or {}).items():
            self._dispatcher.set_faults(service, spec)
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    @staticmethod
    def _fault_configs(faults: Any) -> Dict[str, Optional[FaultConfig]]:
        if isinstance(faults, (str, os.PathLike)):
            faults = load_mapping(faults)
        as_fields = {service: spec.to_dict() if isinstance(spec, FaultConfig) else spec
                     for service, spec in faults.items()}
        return configs_from_mapping(as_fields, SERVICES)

    @property
    def credentials(self) -> Dict[str, str]:
        """A key pair it accepts: ``{"aws_access_key_id": ..., "aws_secret_access_key": ...}``,
        ready for ``boto3.client(...)``."""
        key, secret = next(iter(self._credentials.items()))
        return {"aws_access_key_id": key, "aws_secret_access_key": secret}

    def environ(self) -> Dict[str, str]:
        """Environment variables that point AWS SDKs and the AWS CLI at the emulator.

        The credentials, the Region, ``AWS_ENDPOINT_URL`` and
        ``AWS_DISABLE_HOST_PREFIX_INJECTION=true`` (SiteWise's and TwinMaker's
        ``data.`` host prefix would break a local endpoint). For a subprocess:
        ``subprocess.run(..., env={**os.environ, **emulator.environ()})``.
        """
        credentials = self.credentials
        return {"AWS_ACCESS_KEY_ID": credentials["aws_access_key_id"],
                "AWS_SECRET_ACCESS_KEY": credentials["aws_secret_access_key"],
                "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_DISABLE_HOST_PREFIX_INJECTION": "true"}

    @contextlib.contextmanager
    def environment(self) -> Iterator[Dict[str, str]]:
        """Sets :meth:`environ` in ``os.environ`` (without a session token or profile)
        for the ``with`` block, so writers in this process find the emulator's
        credentials; restores the environment afterwards."""
        names = list(self.environ()) + ["AWS_SESSION_TOKEN", "AWS_PROFILE"]
        saved = {name: os.environ.get(name) for name in names}
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
            os.environ.pop(name, None)
        os.environ.update(self.environ())
        try:
            yield self.environ()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def client_config(self, **overrides: Any) -> Any:
        """A writer's ``client=``: :class:`~beam_batchput.ClientConfig` for this emulator.

        Credentials still come from the standard chain: run the pipeline inside
        ``with emulator.environment():`` (or export :meth:`environ`).

        Args:
            **overrides: Other ``ClientConfig`` fields, e.g. ``read_timeout``.
        """
        from beam_batchput.core.config import ClientConfig

        return ClientConfig(**dict(dict(region_name=REGION, endpoint_url=self.endpoint_url),
                                   **overrides))

    def start(self) -> "Emulator":
        """Binds the port and serves in a background thread; returns self."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running at %s" % self.endpoint_url)
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        self._server = _Server((self._host, self._port), self._dispatcher, family)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="beam-batchput-emulator", daemon=True)
        self._thread.start()
        _LOG.info("emulator listening at %s", self.endpoint_url)
        return self

    def stop(self) -> None:
        """Stops serving and frees the port (no-op when not running)."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> "Emulator":
        return self if self._server is not None else self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        host, port = self._server.server_address[:2]
        return "http://%s:%d" % ("[%s]" % host if ":" in host else host, port)

    def snapshot(self) -> Dict[str, Any]:
        """Everything stored, per service (the JSON of ``GET /_emulator/store``)."""
        return self._store.snapshot()

    def requests(self) -> List[Dict[str, Any]]:
        """The request log (the JSON of ``GET /_emulator/requests``), oldest first."""
        return self._log.records()

    def reset(self) -> None:
        """Forgets stored data and the request log; resources and faults stay."""
        self._dispatcher.reset()

    def set_faults(self, service: str, faults: Optional[FaultConfig]) -> None:
        """Replaces the faults of one service (None removes them), restarting its seed.

        Raises:
            ValueError: On an unknown service, or per-entry rates for DataZone.
        """
        self._dispatcher.set_faults(canonical_service(service), faults)

    def faults(self) -> Dict[str, Dict[str, Any]]:
        """Service name → its fault config fields."""
        return self._dispatcher.faults()
