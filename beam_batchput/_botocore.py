"""botocore sessions that know every service this package writes to.

Implementation note: botocore 1.43.38 dropped the ``iotevents-data`` model
(1.43.37 still ships it). The package carries a minimal description of that
service (only BatchPutMessage) under ``beam_batchput/_data`` and adds that
folder to a session's data path only when the installed botocore lacks the
service, so a botocore that still ships the full model keeps using it.
"""

from __future__ import annotations

import functools
import os
from typing import Optional

import botocore.loaders
import botocore.session

_DATA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_data")


@functools.lru_cache(maxsize=None)
def _builtin_services() -> frozenset:
    return frozenset(botocore.loaders.create_loader().list_available_services("service-2"))


@functools.lru_cache(maxsize=None)
def _bundled_services() -> frozenset:
    if not os.path.isdir(_DATA_PATH):
        return frozenset()
    return frozenset(
        name for name in os.listdir(_DATA_PATH) if os.path.isdir(os.path.join(_DATA_PATH, name))
    )


def needs_bundled_model(service_name: str) -> bool:
    """Whether botocore lacks ``service_name`` and the bundled model stands in."""
    return service_name in _bundled_services() and service_name not in _builtin_services()


def new_session() -> botocore.session.Session:
    """A new botocore session whose loader also finds the bundled models.

    The bundled folder is added after any user ``AWS_DATA_PATH`` entries and only
    when at least one bundled service is missing from the installed botocore.
    """
    session = botocore.session.Session()
    if any(needs_bundled_model(name) for name in _bundled_services()):
        current = session.get_config_variable("data_path")
        paths = [p for p in (current or "").split(os.pathsep) if p]
        paths.append(_DATA_PATH)
        session.set_config_variable("data_path", os.pathsep.join(paths))
    session.register_component("data_loader",
                               _shared_loader(session.get_config_variable("data_path")))
    return session


@functools.lru_cache(maxsize=None)
def _shared_loader(data_path: Optional[str]) -> botocore.loaders.Loader:
    """One loader per data path for the process.

    Implementation note: a loader caches the JSON it reads; a fresh session's
    own loader parses the service model and the endpoint rules again, about
    40 ms of CPU and some 20,000 objects per client, for every DoFn instance
    that builds one. Clients read that data and never change it, as two
    clients of one session share it already.
    """
    return botocore.loaders.create_loader(data_path)


def service_model(service_name: str):
    """The botocore ``ServiceModel`` of ``service_name``, bundled models included."""
    return new_session().get_service_model(service_name)
