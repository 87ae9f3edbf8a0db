"""The resources file: which properties, tables, inputs... exist.

A JSON (or, when PyYAML is importable, YAML) mapping with one optional section
per service. A service without a section accepts every resource; a service
with one answers ResourceNotFound for anything the section does not declare.
Sections are named by the short names (``sitewise``, ``twinmaker``,
``datazone``, ``connect``, ``iotevents``) or the botocore names. Each service
module reads its own section (see its docstring)::

    {"iotsitewise": {"property_aliases": ["/plant/t1/power"],
                     "properties": [{"assetId": "<uuid>", "propertyId": "<uuid>",
                                     "alias": "/plant/t1/rpm", "dataType": "INTEGER"}]},
     "iottwinmaker": {"workspaces": {"factory": {"entities": {"mixer-1": {
         "components": {"telemetry": ["temperature", "rpm"]}}}}}},
     "datazone": {"domains": {"dzd_abc123": {"entities": {"asset01": "ASSET"}}}},
     "connect": {"instances": {"inst-1": {"data_tables": {"routing": {"attributes": {
         "queue": {"type": "TEXT", "primary": true}, "priority": {"type": "NUMBER"}}}}}}},
     "iotevents-data": {"inputs": ["pressureInput"]}}
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping, Optional, Union

from beam_batchput import registry as _registry

__all__ = ["SERVICES", "canonical_service", "load_config", "load_mapping"]

#: The emulated services, by botocore name, as the registry lists them.
SERVICES = tuple(row.botocore_name for row in _registry.SERVICES if row.emulator_handler)



def canonical_service(name: str) -> str:
    """The botocore name of a service named by its short or botocore name; else ``name``."""
    try:
        return _registry.spec(name).botocore_name
    except ValueError:
        return name

ConfigSource = Union[None, str, "os.PathLike[str]", Mapping[str, Any]]


def load_mapping(source: Union[str, "os.PathLike[str]"]) -> Dict[str, Any]:
    """Reads a JSON or YAML file holding a mapping.

    Raises:
        ValueError: When the file is not a mapping, or is YAML and PyYAML is missing.
    """
    path = os.fspath(source)
    with open(path, "r", encoding="utf-8") as handle:
        text = handle.read()
    if path.lower().endswith((".yaml", ".yml")):
        try:
            import yaml  # optional dependency
        except ImportError as error:
            raise ValueError("reading %s needs PyYAML; use JSON instead" % path) from error
        data = yaml.safe_load(text)
    else:
        try:
            data = json.loads(text)
        except ValueError as error:
            raise ValueError("%s is not valid JSON: %s" % (path, error)) from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError("%s must hold a mapping, got %s" % (path, type(data).__name__))
    return data


def load_config(config: ConfigSource) -> Dict[str, Optional[Mapping[str, Any]]]:
    """Service name → its resources section (None when the service declares nothing).

    Args:
        config: None, a path to a JSON/YAML file, or the mapping itself.

    Raises:
        ValueError: On an unknown service name or a section that is not a mapping.
    """
    if config is None:
        data: Mapping[str, Any] = {}
    elif isinstance(config, Mapping):
        data = config
    else:
        data = load_mapping(config)
    data = {canonical_service(name): section for name, section in data.items()}
    unknown = sorted(set(data) - set(SERVICES))
    if unknown:
        raise ValueError("config names unknown service(s) %s; known: %s"
                         % (", ".join(unknown), ", ".join(SERVICES)))
    sections: Dict[str, Optional[Mapping[str, Any]]] = {}
    for service in SERVICES:
        section = data.get(service)
        if section is not None and not isinstance(section, Mapping):
            raise ValueError("config section %r must be a mapping, got %r" % (service, section))
        sections[service] = section
    return sections
