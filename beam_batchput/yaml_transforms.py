"""The writers as Beam YAML transforms.

Declare them in a YAML pipeline with the shipped provider file::

    providers:
      - include: <PROVIDERS_FILE>

or with a ``python`` provider naming the factories::

    providers:
      - type: python
        config: {}
        transforms:
          WriteToSiteWise: beam_batchput.yaml_transforms.write_to_sitewise

Each takes the input rows as records. With ``error_handling: {output: NAME}``
(Beam YAML's convention) it has the outputs ``written`` (Receipt rows) and
``NAME`` (DeadLetter rows); Beam YAML then requires ``NAME`` to be consumed, and
the plain transform name refers to ``written``. Without it the outputs are
``written`` and ``failed``: refer to them as ``WriteToSiteWise.written`` and
``WriteToSiteWise.failed``. An example is ``pipelines/yaml/wind_farm.yaml``.
"""

from __future__ import annotations

import inspect
import os
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import apache_beam as beam
from apache_beam.transforms.window import FixedWindows

from beam_batchput.core.config import DEFAULT_MAX_IN_FLIGHT, BatchingConfig, RetryConfig
from beam_batchput.registry import SERVICES, spec
from beam_batchput.writers import writer_info

__all__ = sorted(["PROVIDERS_FILE", "YamlWrite", "providers_yaml",
                  *(row.yaml_factory for row in SERVICES)])

#: The provider file declaring every writer, for ``providers: - include: ...``.
PROVIDERS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "yaml",
                              "providers.yaml")

# (name, type, default, description): the config every writer takes. Beam YAML
# reads the types from the factories' signatures and the descriptions from
# their docstrings.
_Param = Tuple[str, Any, Any, str]
_COMMON: Tuple[_Param, ...] = (
    ("region_name", Optional[str], None, "AWS Region of the client."),
    ("endpoint_url", Optional[str], None,
     "A custom endpoint, e.g. the local emulator; empty means the service's own."),
    ("profile_name", Optional[str], None, "A named profile of the worker's AWS config."),
    ("max_in_flight", int, DEFAULT_MAX_IN_FLIGHT, "Requests sent at once per worker."),
    ("max_buffering_seconds", float, BatchingConfig.max_buffering_seconds,
     "Processing-time bound on buffering a partial batch (streaming)."),
    ("max_buffered_records", Optional[int], None,
     "Records buffered per key and window before full requests go out."),
    ("num_shards", Optional[int], None, "Keys per request scope, for parallelism."),
    ("max_attempts", int, RetryConfig.max_attempts, "Sends per record at most."),
    ("max_retry_seconds", float, RetryConfig.max_retry_seconds,
     "Time budget of one request's retries."),
    ("fail_fast", bool, False,
     "Raise on a non-transient whole-request error instead of dead-lettering."),
    ("dead_letter_threshold", Optional[float], None,
     "Fail the pipeline when dead letters exceed this ratio of the records (0 to 1)."),
    ("threshold_window_seconds", Optional[float], None,
     "Judge the threshold in fixed windows of this many seconds (streaming)."),
    ("error_handling", Optional[Mapping[str, Any]], None,
     "Beam YAML error handling: {output: NAME} names the dead-letter output."),
)
# Optional text settings where a templated empty string means "not set".
_EMPTY_IS_UNSET = ("region_name", "endpoint_url", "profile_name")


class YamlWrite(beam.PTransform):
    """Applies a writer and returns its outputs as a dict, as Beam YAML expects.

    Args:
        writer: A ``WriteTo…`` transform.
        error_output: The name of the dead-letter output (``failed`` if None).
    """

    def __init__(self, writer: beam.PTransform, error_output: Optional[str] = None) -> None:
        super().__init__()
        self._writer = writer
        self._error_output = error_output or "failed"

    def expand(self, records: beam.PCollection) -> Dict[str, beam.PCollection]:
        result = records | self._writer
        return {"written": result.written, self._error_output: result.failed}


def _error_output(error_handling: Any) -> Optional[str]:
    """The output named by a Beam YAML ``error_handling`` mapping, or None."""
    if error_handling is None:
        return None
    if hasattr(error_handling, "items"):
        from apache_beam.yaml.yaml_utils import SafeLineLoader

        error_handling = SafeLineLoader.strip_metadata(error_handling)
    if not isinstance(error_handling, Mapping) or set(error_handling) != {"output"}:
        raise ValueError("error_handling must be a mapping {output: NAME}, got %r"
                         % (error_handling,))
    output = error_handling["output"]
    if not isinstance(output, str) or not output or output == "written":
        raise ValueError("error_handling.output must name an output other than 'written', "
                         "got %r" % (output,))
    return output


def _writer_kwargs(config: Dict[str, Any]) -> Dict[str, Any]:
    """The writer's keyword arguments from a YAML config."""
    for name in _EMPTY_IS_UNSET:
        if config.get(name) == "":
            config[name] = None
    retry = RetryConfig(max_attempts=config.pop("max_attempts"),
                        max_retry_seconds=config.pop("max_retry_seconds"))
    batching = BatchingConfig(max_buffering_seconds=config.pop("max_buffering_seconds"),
                              max_buffered_records=config.pop("max_buffered_records"),
                              num_shards=config.pop("num_shards"))
    window_seconds = config.pop("threshold_window_seconds")
    if window_seconds is not None:
        if isinstance(window_seconds, bool) or not isinstance(window_seconds, (int, float)) \
                or window_seconds <= 0:
            raise ValueError("threshold_window_seconds must be a positive number, got %r"
                             % (window_seconds,))
        config["threshold_windowing"] = FixedWindows(window_seconds)
    config.pop("error_handling")
    return dict(config, retry=retry, batching=batching)


def _factory(short_name: str) -> Callable[..., YamlWrite]:
    """The YAML factory of one writer, with a signature Beam YAML can read."""
    info = writer_info(short_name)
    params = _COMMON + tuple((setting.name, setting.type, setting.default, setting.description)
                             for setting in spec(short_name).yaml_settings)
    signature = inspect.Signature([
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                          annotation=annotation)
        for name, annotation, default, _ in params])

    def factory(**config: Any) -> YamlWrite:
        try:
            bound = signature.bind(**config)
        except TypeError as error:
            raise ValueError("%s: %s; its config takes %s" % (
                info.writer.__name__, error, ", ".join(signature.parameters))) from error
        bound.apply_defaults()
        error_output = _error_output(bound.arguments["error_handling"])
        return YamlWrite(info.writer(**_writer_kwargs(dict(bound.arguments))), error_output)

    factory.__signature__ = signature  # type: ignore[attr-defined]
    factory.__name__ = factory.__qualname__ = "write_to_%s" % info.short_name
    factory.__module__ = "beam_batchput.yaml_transforms"
    factory.__doc__ = ("%s as a Beam YAML transform; outputs written and failed (or the "
                       "error_handling output).\n\nArgs:\n%s\n") % (
        info.writer.__name__,
        "\n".join("    %s: %s" % (name, text) for name, _, _, text in params))
    return factory


# One factory per registry row, e.g. write_to_sitewise.
for _row in SERVICES:
    globals()[_row.yaml_factory] = _factory(_row.short_name)
del _row


def providers_yaml() -> str:
    """The text of the shipped provider file, derived from the registry."""
    return _PROVIDERS_HEADER + "".join(
        "    %s: beam_batchput.yaml_transforms.%s\n" % (row.yaml_name, row.yaml_factory)
        for row in SERVICES)


_PROVIDERS_HEADER = """\
# The beam-batchput writers as Beam YAML transforms. Use them in a pipeline with
#
#   providers:
#     - include: <path of this file>
#
# (the installed path: python -c "import beam_batchput.yaml_transforms as t; print(t.PROVIDERS_FILE)").
# Each writer takes rows as records and has the outputs `written` (Receipt rows)
# and `failed` (DeadLetter rows), or with `error_handling: {output: NAME}` the
# outputs `written` and NAME; its config is the writer's keyword arguments
# (see beam_batchput/yaml_transforms.py).
# Generated from beam_batchput/registry.py: python -m beam_batchput.yaml_transforms
- type: python
  config: {}
  transforms:
"""


if __name__ == "__main__":
    with open(PROVIDERS_FILE, "w", encoding="utf-8") as _handle:
        _handle.write(providers_yaml())
