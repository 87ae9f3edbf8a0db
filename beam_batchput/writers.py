"""The public write transforms, one per AWS API.

Each is the generic :class:`~beam_batchput.core.transforms.AwsBatchWrite` bound
to one service module; every keyword argument of ``AwsBatchWrite`` applies
(``region_name``, ``endpoint_url``, ``profile_name``, ``boto_config``,
``client``, ``client_factory``, ``max_in_flight``, ``max_buffering_seconds``,
``batching``, ``retry``, ``fail_fast``).
"""

from __future__ import annotations

from typing import Any

from beam_batchput.core.transforms import AwsBatchWrite
from beam_batchput.services.sitewise import SiteWiseService

__all__ = ["WriteToSiteWise"]


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
