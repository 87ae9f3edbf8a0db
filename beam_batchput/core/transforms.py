"""Deprecated: the write transform now lives in :mod:`beam_batchput.core.write`.

Kept so old imports work; import :class:`AwsBatchWrite` and
:class:`WriteResult` from ``beam_batchput`` (or ``beam_batchput.core.write``).
The steps of the record's path are :mod:`~beam_batchput.core.prepare`,
:mod:`~beam_batchput.core.batching` and :mod:`~beam_batchput.core.sending`.
"""

import warnings

from beam_batchput.core.write import AwsBatchWrite, WriteResult

__all__ = ["AwsBatchWrite", "WriteResult"]

warnings.warn("beam_batchput.core.transforms is deprecated; import from beam_batchput "
              "or beam_batchput.core.write", DeprecationWarning, stacklevel=2)
