"""The one table of services; every list of services is derived from it.

A row (:class:`ServiceSpec`) names a service's parts by dotted path, so this
module imports no Beam and loads a part only when asked: the writer class (a
Beam transform), the service description (plain Python), the emulator handler.
Derived from :data:`SERVICES`: the package's exports, ``writers.WRITERS``,
``avro.SCHEMA_NAMES``, the Beam YAML factories and ``yaml/providers.yaml``, the
emulator's services, the pipelines' ``--service`` help, and the tests' and
benchmarks' service lists. Adding a service is one row here, plus its modules.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Optional, Tuple

from beam_batchput.services.connect import DEFAULT_MAX_VALUES_PER_REQUEST
from beam_batchput.services.datazone import DEFAULT_MAX_FORMS_PER_REQUEST, DEFAULT_MAX_REQUEST_BYTES
from beam_batchput.services import kinesis as _kinesis

__all__ = ["BOTOCORE_NAMES", "SERVICES", "SHORT_NAMES", "ServiceSpec", "YamlSetting",
           "load", "names_in_prose", "spec"]


@dataclasses.dataclass(frozen=True)
class YamlSetting:
    """One writer-specific setting of a Beam YAML transform.

    Attributes:
        name: The writer's keyword argument.
        type: Its type, as Beam YAML reads it from the factory's signature.
        default: Its default.
        description: One line for the factory's docstring.
    """

    name: str
    type: Any
    default: Any
    description: str


@dataclasses.dataclass(frozen=True)
class ServiceSpec:
    """One service and where its parts live.

    Attributes:
        short_name: The canonical name on command lines, in YAML and in docs.
        botocore_name: The botocore service name: an accepted alias, and the
            ``service`` field of receipts and dead letters.
        title: The service's name in prose, e.g. ``"IoT SiteWise"``.
        service: ``module:Class`` of the :class:`~beam_batchput.core.service.Service`.
        writer: ``module:Class`` of the ``WriteTo…`` transform.
        schema: The name of its shipped Avro record schema.
        yaml_name: The name of its Beam YAML transform.
        yaml_settings: Its YAML settings beyond the ones every writer takes.
        emulator_handler: ``module:Class`` of its emulator handler, or None.
    """

    short_name: str
    botocore_name: str
    title: str
    service: str
    writer: str
    schema: str
    yaml_name: str
    yaml_settings: Tuple[YamlSetting, ...] = ()
    emulator_handler: Optional[str] = None

    @property
    def writer_name(self) -> str:
        """The writer class's name, e.g. ``"WriteToSiteWise"``."""
        return self.writer.rpartition(":")[2]

    @property
    def yaml_factory(self) -> str:
        """The name of its factory in :mod:`beam_batchput.yaml_transforms`."""
        return "write_to_%s" % self.short_name


def load(path: str) -> Any:
    """The object a ``module:attribute`` path names, importing its module."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


_SERVICES = "beam_batchput.services."
_WRITERS = "beam_batchput.writers:"
_HANDLERS = "beam_batchput.emulator.services."

#: Every service, in the order lists show them.
SERVICES: Tuple[ServiceSpec, ...] = (
    ServiceSpec("sitewise", "iotsitewise", "IoT SiteWise",
                _SERVICES + "sitewise:SiteWiseService", _WRITERS + "WriteToSiteWise",
                "sitewise_record", "WriteToSiteWise",
                (YamlSetting("enable_partial_entry_processing", bool, True,
                             "Let SiteWise store the valid TQVs of an entry with invalid ones."),),
                _HANDLERS + "sitewise:SiteWiseHandler"),
    ServiceSpec("twinmaker", "iottwinmaker", "IoT TwinMaker",
                _SERVICES + "twinmaker:TwinMakerService", _WRITERS + "WriteToTwinMaker",
                "twinmaker_record", "WriteToTwinMaker", (),
                _HANDLERS + "twinmaker:TwinMakerHandler"),
    ServiceSpec("datazone", "datazone", "DataZone",
                _SERVICES + "datazone:DataZoneService", _WRITERS + "WriteToDataZone",
                "datazone_record", "WriteToDataZone",
                (YamlSetting("max_forms_per_request", int, DEFAULT_MAX_FORMS_PER_REQUEST,
                             "Forms per call (1: each form's clientToken is its own)."),
                 YamlSetting("max_request_bytes", Optional[int], DEFAULT_MAX_REQUEST_BYTES,
                             "Serialized form bytes per call, or null.")),
                _HANDLERS + "datazone:DataZoneHandler"),
    ServiceSpec("connect", "connect", "Connect data tables",
                _SERVICES + "connect:ConnectDataTableService",
                _WRITERS + "WriteToConnectDataTable", "connect_record", "WriteToConnectDataTable",
                (YamlSetting("max_values_per_request", int, DEFAULT_MAX_VALUES_PER_REQUEST,
                             "Values per call."),),
                _HANDLERS + "connect:ConnectHandler"),
    ServiceSpec("iotevents", "iotevents-data", "IoT Events",
                _SERVICES + "iotevents:IoTEventsService", _WRITERS + "WriteToIoTEvents",
                "iotevents_record", "WriteToIoTEvents", (),
                _HANDLERS + "iotevents:IoTEventsHandler"),
    ServiceSpec("kinesis", "kinesis", "Kinesis Data Streams",
                _SERVICES + "kinesis:KinesisService", _WRITERS + "WriteToKinesis",
                "kinesis_record", "WriteToKinesis",
                (YamlSetting("max_record_bytes", int, _kinesis.DEFAULT_MAX_RECORD_BYTES,
                             "Data plus partition key bytes per record (the stream's "
                             "MaxRecordSize)."),
                 YamlSetting("max_request_bytes", int, _kinesis.DEFAULT_MAX_REQUEST_BYTES,
                             "Bytes per call.")),
                None),
)

#: The canonical names, in table order.
SHORT_NAMES: Tuple[str, ...] = tuple(s.short_name for s in SERVICES)
#: The botocore names, in table order.
BOTOCORE_NAMES: Tuple[str, ...] = tuple(s.botocore_name for s in SERVICES)


def spec(name: str) -> ServiceSpec:
    """The row of a short name (canonical) or a botocore name.

    Raises:
        ValueError: naming the known services, for an unknown name.
    """
    for row in SERVICES:
        if name in (row.short_name, row.botocore_name):
            return row
    raise ValueError("unknown service %r; known: %s" % (name, ", ".join(sorted(SHORT_NAMES))))


def names_in_prose(conjunction: str = "or") -> str:
    """The short names as prose: ``"sitewise, twinmaker, ... or iotevents"``."""
    return "%s %s %s" % (", ".join(SHORT_NAMES[:-1]), conjunction, SHORT_NAMES[-1])
