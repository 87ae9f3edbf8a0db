"""Apache Beam write connectors for AWS batch-put APIs.

The writers and :class:`AwsBatchWrite` load on first use, so importing a
service module, the registry or the emulator does not import Beam.
"""

import importlib
from typing import Any, Dict, List

from beam_batchput import registry as _registry
from beam_batchput.core.config import BatchingConfig, ClientConfig, RetryConfig
from beam_batchput.core.errors import DeadLetterThresholdExceeded, RequestFailedError
from beam_batchput.core.records import DeadLetter, Receipt, Stage

# Public names that need Beam, by the module defining them: the core
# transform, and every writer of the registry.
_LAZY: Dict[str, str] = {
    "AwsBatchWrite": "beam_batchput.core.write",
    "WriteResult": "beam_batchput.core.write",
    **{row.writer_name: row.writer.partition(":")[0] for row in _registry.SERVICES},
}

__all__ = sorted(["BatchingConfig", "ClientConfig", "DeadLetter", "DeadLetterThresholdExceeded",
                  "Receipt", "RequestFailedError", "RetryConfig", "Stage", *_LAZY])

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
