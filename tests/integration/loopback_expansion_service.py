"""Beam's Python expansion service (``expansion_service_main``), bound to loopback.

``python -m apache_beam.runners.portability.expansion_service_main`` listens on
every interface; tests listen on 127.0.0.1 only, so this runs Beam's own main
with its gRPC server's ``0.0.0.0`` address turned into ``127.0.0.1``. Every
argument is Beam's (``--port``, ``--fully_qualified_name_glob``, pipeline options).

Given ``--port 0``, Beam's main logs the 0 it was given; this prints the port
the server bound instead, as ``expansion service bound to 127.0.0.1:PORT``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Callable

import grpc
from apache_beam.runners.portability import expansion_service_main


def _on_loopback(server_factory: Callable[..., Any]) -> Callable[..., Any]:
    def server(*args: Any, **kwargs: Any) -> Any:
        built = server_factory(*args, **kwargs)
        add_port = built.add_insecure_port

        def add_loopback_port(address: str) -> int:
            port = add_port(address.replace("0.0.0.0:", "127.0.0.1:", 1))
            print("expansion service bound to 127.0.0.1:%d" % port, flush=True)
            return port

        built.add_insecure_port = add_loopback_port
        return built

    return server


if __name__ == "__main__":
    logging.getLogger().setLevel(logging.INFO)
    grpc.server = _on_loopback(grpc.server)
    expansion_service_main.main(sys.argv)
