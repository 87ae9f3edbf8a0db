"""Apache Beam write connectors for AWS batch-put APIs."""

from beam_batchput.core.config import BatchingConfig, ClientConfig, RetryConfig, SendingConfig
from beam_batchput.core.errors import RequestFailedError
from beam_batchput.core.records import DeadLetter, Receipt, Stage
from beam_batchput.core.transforms import AwsBatchWrite, WriteResult
from beam_batchput.writers import (
    WriteToConnectDataTable,
    WriteToDataZone,
    WriteToIoTEvents,
    WriteToSiteWise,
    WriteToTwinMaker,
)

__all__ = [
    "AwsBatchWrite",
    "BatchingConfig",
    "ClientConfig",
    "DeadLetter",
    "Receipt",
    "RequestFailedError",
    "RetryConfig",
    "SendingConfig",
    "Stage",
    "WriteResult",
    "WriteToConnectDataTable",
    "WriteToDataZone",
    "WriteToIoTEvents",
    "WriteToSiteWise",
    "WriteToTwinMaker",
]

__version__ = "0.1.0"
