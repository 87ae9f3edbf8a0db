"""The public write transforms, one per AWS API.

Each is the generic :class:`~beam_batchput.core.write.AwsBatchWrite` bound
to one service module; every keyword argument of ``AwsBatchWrite`` applies
(``region_name``, ``endpoint_url``, ``profile_name``, ``boto_config``,
``client``, ``client_factory``, ``max_in_flight``, ``max_buffering_seconds``,
``batching``, ``retry``, ``fail_fast``, ``clock``, ``dead_letter_threshold``,
``threshold_windowing``), and each has ``with_error_handler``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Type

from beam_batchput.core.write import AwsBatchWrite
from beam_batchput.registry import SERVICES, load, spec
from beam_batchput.services.connect import DEFAULT_MAX_VALUES_PER_REQUEST, ConnectDataTableService
from beam_batchput.services.datazone import (
    DEFAULT_MAX_FORMS_PER_REQUEST,
    DEFAULT_MAX_REQUEST_BYTES,
    DataZoneService,
)
from beam_batchput.services.iotevents import IoTEventsService
from beam_batchput.services.kinesis import (
    DEFAULT_MAX_RECORD_BYTES,
    DEFAULT_MAX_REQUEST_BYTES as KINESIS_MAX_REQUEST_BYTES,
    KinesisService,
)
from beam_batchput.services.sitewise import SiteWiseService
from beam_batchput.services.twinmaker import TwinMakerService

__all__ = sorted(["WRITERS", "WriterInfo", "writer_info",
                  *(row.writer_name for row in SERVICES if row.writer.startswith(__name__ + ":"))])


class WriteToSiteWise(AwsBatchWrite):
    """Writes TQVs to AWS IoT SiteWise with BatchPutAssetPropertyValue.

    Example::

        result = records | WriteToSiteWise(region_name="eu-west-1")
        result.written  # Receipt per stored TQV
        result.failed   # DeadLetter per refused record

    Args:
        enable_partial_entry_processing: Let SiteWise store the valid TQVs of an
            entry that also holds invalid ones (default True).
        **kwargs: Any keyword argument of ``AwsBatchWrite``.
    """

    def __init__(self, *, enable_partial_entry_processing: bool = True, **kwargs: Any) -> None:
        super().__init__(
            SiteWiseService(enable_partial_entry_processing=enable_partial_entry_processing),
            **kwargs)


class WriteToTwinMaker(AwsBatchWrite):
    """Writes property values to AWS IoT TwinMaker with BatchPutPropertyValues.

    Records name ``workspace_id``, ``entity_id``, ``component_name`` (or
    ``component_path``), ``property_name``, ``value`` and ``timestamp`` (sent as
    the ISO-8601 ``time`` field). One request targets one workspace and carries
    at most 10 entries of at most 10 values.

    Args:
        **kwargs: Any keyword argument of ``AwsBatchWrite``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(TwinMakerService(), **kwargs)


class WriteToDataZone(AwsBatchWrite):
    """Writes time-series form data points to Amazon DataZone with PostTimeSeriesDataPoints.

    Records name ``domain_id``, ``entity_type`` (ASSET or LISTING), ``entity_id``,
    ``form_name``, ``type_identifier``, optional ``type_revision``, ``timestamp``
    and ``content`` (JSON text or a dict). One request targets one entity and
    succeeds or fails whole; its ``clientToken`` is derived from its content, so
    a replayed request does not write twice. One form per call by default, so
    the token is the form's own and a form sent again in any packing is
    stored once.

    Args:
        max_forms_per_request: Forms per call (default 1; AWS documents no
            maximum). More sends fewer calls, but a form re-packed into
            another request on a replay (a Flink restore) is stored again.
        max_request_bytes: Serialized form bytes per call, or None.
        **kwargs: Any keyword argument of ``AwsBatchWrite``.
    """

    def __init__(self, *, max_forms_per_request: int = DEFAULT_MAX_FORMS_PER_REQUEST,
                 max_request_bytes: Any = DEFAULT_MAX_REQUEST_BYTES, **kwargs: Any) -> None:
        super().__init__(DataZoneService(max_forms_per_request=max_forms_per_request,
                                         max_request_bytes=max_request_bytes), **kwargs)


class WriteToConnectDataTable(AwsBatchWrite):
    """Writes attribute values to Amazon Connect data tables with BatchCreateDataTableValue.

    Records name ``instance_id``, ``data_table_id``, ``attribute_name``,
    ``value`` (str), ``primary_values`` (a dict, or a list of name/value pairs)
    and optional ``lock_version``. One request targets one table; failures are
    matched back by primary values and attribute name.

    Args:
        max_values_per_request: Values per call (AWS documents no maximum).
        **kwargs: Any keyword argument of ``AwsBatchWrite``.
    """

    def __init__(self, *, max_values_per_request: int = DEFAULT_MAX_VALUES_PER_REQUEST,
                 **kwargs: Any) -> None:
        super().__init__(ConnectDataTableService(max_values_per_request=max_values_per_request),
                         **kwargs)


class WriteToIoTEvents(AwsBatchWrite):
    """Sends messages to AWS IoT Events inputs with BatchPutMessage.

    AWS ended support for IoT Events: see :mod:`beam_batchput.services.iotevents`
    for what that means for this writer.

    Records name ``input_name``, ``payload`` (bytes, str or a dict sent as
    JSON), optional ``message_id`` (derived from the content when absent, so a
    replay sends the same ids) and optional ``timestamp``. A request carries at
    most 10 messages and 1,024 payload bytes.

    Args:
        **kwargs: Any keyword argument of ``AwsBatchWrite``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(IoTEventsService(), **kwargs)


class WriteToKinesis(AwsBatchWrite):
    """Writes data records to Amazon Kinesis Data Streams with PutRecords.

    Records name ``stream_name`` or ``stream_arn``, ``partition_key``, ``data``
    (bytes, str or a dict sent as JSON) and optional ``explicit_hash_key``. One
    request targets one stream and carries at most 500 records. A receipt
    means the stream returned a sequence number for the record.

    Delivery is at least once: PutRecords has no idempotency key, so a record
    resent after a lost answer, or by a replayed bundle, is stored twice.
    Consumers deduplicate by an id inside the data.

    Args:
        max_record_bytes: Data plus partition key per record: the stream's
            MaxRecordSize (1 MiB unless raised; at most 10 MiB).
        max_request_bytes: Bytes per call (at most and by default 10 MiB).
        **kwargs: Any keyword argument of ``AwsBatchWrite``.
    """

    def __init__(self, *, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
                 max_request_bytes: int = KINESIS_MAX_REQUEST_BYTES, **kwargs: Any) -> None:
        super().__init__(KinesisService(max_record_bytes=max_record_bytes,
                                        max_request_bytes=max_request_bytes), **kwargs)


@dataclasses.dataclass(frozen=True)
class WriterInfo:
    """How pipelines and tools find a writer.

    Attributes:
        service: The botocore service name, as in dead letters.
        short_name: The name used on command lines, e.g. ``"sitewise"``.
        writer: The PTransform class.
        schema: The name of its shipped Avro record schema.
    """

    service: str
    short_name: str
    writer: Type[AwsBatchWrite]
    schema: str


#: Every writer, by botocore service name, in the registry's order.
WRITERS: Dict[str, WriterInfo] = {
    row.botocore_name: WriterInfo(row.botocore_name, row.short_name, load(row.writer), row.schema)
    for row in SERVICES
}


def writer_info(name: str) -> WriterInfo:
    """The writer for a botocore service name or a short name.

    Raises:
        ValueError: naming the known writers, for an unknown name.
    """
    return WRITERS[spec(name).botocore_name]
