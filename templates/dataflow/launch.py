"""The Flex Template launcher's Python file: builds a pipeline and submits it.

The image sets ``FLEX_TEMPLATE_PYTHON_PY_FILE`` to this file; Dataflow's
launcher runs it with the job's parameters as flags. It builds the pipeline
named by ``BEAM_BATCHPUT_PIPELINE`` (``avro_to_service`` or ``redrive``, fixed
when the image is built), and submits it without waiting for the job: Google's
Flex Template guide asks launchers not to block in ``wait_until_finish()``
(a streaming job never finishes, and the launch would time out).

When ``BEAM_BATCHPUT_AWS_ROLE_ARN`` is set, every writer client gets AWS
credentials by web identity federation (the audience from
``BEAM_BATCHPUT_AWS_AUDIENCE``, STS in the writers' ``--region_name``; as in
the AWS SDKs, ``AWS_ENDPOINT_URL_STS`` overrides the STS endpoint and
``GCE_METADATA_HOST`` the metadata server) in its own process
(:mod:`templates.dataflow.gcp_web_identity`): one exchange per worker process,
renewed before expiry, whatever the number of DoFn instances.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from beam_batchput.core.config import ClientConfig
from pipelines import avro_to_service, redrive
from pipelines.options import WriterOptions
from templates.dataflow.gcp_web_identity import (
    DEFAULT_AUDIENCE,
    METADATA_HOST,
    BotocoreProvider,
    WebIdentityConfig,
    shared_session,
)

__all__ = ["PIPELINES", "WebIdentityClientConfig", "launch", "main"]

#: The pipelines a template image can launch: (options class, build function).
PIPELINES: Dict[str, Tuple[type, Callable[..., Any]]] = {
    "avro_to_service": (avro_to_service.AvroToServiceOptions, avro_to_service.build),
    "redrive": (redrive.RedriveOptions, redrive.build),
}


@dataclasses.dataclass(frozen=True)
class WebIdentityClientConfig(ClientConfig):
    """A :class:`ClientConfig` whose clients sign with web identity credentials.

    Args:
        identity: The role to assume and the STS Region; see
            :class:`~templates.dataflow.gcp_web_identity.WebIdentityConfig`.
        **kwargs: Any field of :class:`ClientConfig`.
    """

    identity: Optional[WebIdentityConfig] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.identity, WebIdentityConfig):
            raise ValueError("identity must be a WebIdentityConfig, got %r" % (self.identity,))

    def create_client(self, service_name: str, botocore_session: Any = None) -> Any:
        """A client whose credentials come from this process's web identity session."""
        from beam_batchput import _botocore

        session = botocore_session or _botocore.new_session()
        session.get_component("credential_provider").insert_before(
            "env", BotocoreProvider(shared_session(self.identity)))
        return super().create_client(service_name, botocore_session=session)


def _options(name: str, argv: List[str]) -> PipelineOptions:
    if name not in PIPELINES:
        raise ValueError("BEAM_BATCHPUT_PIPELINE must be one of %s, got %r"
                         % (", ".join(sorted(PIPELINES)), name))
    options = PIPELINES[name][0](argv).validated()
    if name == "avro_to_service" and options.watch_interval_seconds > 0:
        options.view_as(StandardOptions).streaming = True
    return options


def _writer_overrides(options: PipelineOptions, environ: Mapping[str, str]) -> Dict[str, Any]:
    role_arn = environ.get("BEAM_BATCHPUT_AWS_ROLE_ARN")
    if not role_arn:
        return {}
    writer = options.view_as(WriterOptions)
    identity = WebIdentityConfig(
        role_arn=role_arn, region_name=writer.region_name,
        audience=environ.get("BEAM_BATCHPUT_AWS_AUDIENCE") or DEFAULT_AUDIENCE,
        session_name=environ.get("BEAM_BATCHPUT_AWS_SESSION_NAME") or "beam-batchput",
        metadata_host=environ.get("GCE_METADATA_HOST") or METADATA_HOST,
        sts_endpoint_url=environ.get("AWS_ENDPOINT_URL_STS") or None)
    client = WebIdentityClientConfig(region_name=writer.region_name,
                                     endpoint_url=writer.endpoint_url,
                                     max_pool_connections=max(16, writer.max_in_flight),
                                     identity=identity)
    # ``client`` replaces the loose client settings the pipeline passes.
    return {"client": client, "region_name": None, "endpoint_url": None}


def launch(argv: List[str], environ: Optional[Mapping[str, str]] = None) -> Any:
    """Builds the image's pipeline from ``argv``, submits it, returns its result unwaited.

    Args:
        argv: The job's flags, as the launcher passes them.
        environ: The environment (``os.environ`` by default).

    Returns:
        The ``PipelineResult`` of ``pipeline.run()``.
    """
    environ = os.environ if environ is None else environ
    name = environ.get("BEAM_BATCHPUT_PIPELINE", "")
    options = _options(name, argv)
    pipeline = beam.Pipeline(options=options)
    PIPELINES[name][1](pipeline, options, **_writer_overrides(options, environ))
    return pipeline.run()


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the launcher."""
    logging.basicConfig(level=logging.INFO)
    launch(sys.argv[1:] if argv is None else argv)
    return 0


if __name__ == "__main__":
    # Implementation note: run under its package name, not as ``__main__``, so
    # the client configuration pickled for the workers names an importable class.
    from templates.dataflow import launch as _module

    sys.exit(_module.main())
