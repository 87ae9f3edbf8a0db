"""The public write transforms, one per AWS API.

Each is the generic :class:`~beam_batchput.core.transforms.AwsBatchWrite` bound
to one service module; every keyword argument of ``AwsBatchWrite`` applies
(``region_name``, ``endpoint_url``, ``profile_name``, ``boto_config``,
``client``, ``client_factory``, ``max_in_flight``, ``max_buffering_seconds``,
``batching``, ``retry``, ``fail_fast``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Type

from beam_batchput.core.transforms import AwsBatchWrite
from beam_batchput.services.sitewise import SiteWiseService

__all__ = ["WRITERS", "WriterInfo", "WriteToSiteWise", "writer_info"]


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


#: Every writer, by botocore service name.
WRITERS: Dict[str, WriterInfo] = {
    info.service: info for info in (
        WriterInfo("iotsitewise", "sitewise", WriteToSiteWise, "sitewise_record"),
    )
}


def writer_info(name: str) -> WriterInfo:
    """The writer for a botocore service name or a short name.

    Raises:
        ValueError: naming the known writers, for an unknown name.
    """
    for info in WRITERS.values():
        if name in (info.service, info.short_name):
            return info
    raise ValueError("unknown service %r; known: %s" % (
        name, ", ".join(sorted(i.short_name for i in WRITERS.values()))))
