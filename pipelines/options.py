"""Options every pipeline here shares: how its writers reach the service.

Implementation note: Beam parses the flags of every ``PipelineOptions``
subclass with one parser, so each flag is defined once, here or in exactly
one pipeline's options.
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
from typing import Any, Callable, Dict

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions


class WriterOptions(PipelineOptions):
    """Client and batching options of the writers."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--region_name", default=None, help="AWS Region of the writers.")
        parser.add_argument("--endpoint_url", default=None,
                            help="A custom endpoint, e.g. the local emulator.")
        parser.add_argument("--max_buffering_seconds", type=float, default=5.0,
                            help="Processing-time bound on buffering a partial batch.")
        parser.add_argument("--max_in_flight", type=int, default=4,
                            help="Requests sent at once per worker thread.")

    def validate_writer(self) -> None:
        """Raises ValueError naming the first bad option."""
        if not (self.max_buffering_seconds > 0 and math.isfinite(self.max_buffering_seconds)):
            raise ValueError("--max_buffering_seconds must be a positive finite number, got %r"
                             % self.max_buffering_seconds)
        if self.max_in_flight < 1:
            raise ValueError("--max_in_flight must be at least 1, got %r" % self.max_in_flight)
        for name in ("region_name", "endpoint_url"):
            if getattr(self, name) == "":
                raise ValueError("--%s must not be empty (leave it out instead)" % name)
        if self.endpoint_url and not self.endpoint_url.startswith(("http://", "https://")):
            raise ValueError("--endpoint_url must be an http:// or https:// URL, got %r"
                             % self.endpoint_url)

    def writer_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments for a ``WriteTo…`` transform."""
        self.validate_writer()
        return dict(region_name=self.region_name, endpoint_url=self.endpoint_url,
                    max_buffering_seconds=self.max_buffering_seconds,
                    max_in_flight=self.max_in_flight)


def run_to_completion(options: PipelineOptions,
                      build: Callable[[beam.Pipeline, Any], Any]) -> Any:
    """Builds a pipeline with ``build(pipeline, options)``, runs it, waits, returns the result."""
    pipeline = beam.Pipeline(options=options)
    build(pipeline, options)
    result = pipeline.run()
    result.wait_until_finish()
    return result


def pipeline_metrics(result: Any) -> Any:
    """``result.metrics()``, also after a long run on Beam's portable runner.

    That runner merges a stage's metrics lazily, one nested generator per
    bundle, so reading them after a thousand bundles of one stage (a streaming
    run of a minute or so) overflows the recursion limit. The first read is made
    in a thread with room for that depth; the result caches what it read.

    Args:
        result: A finished ``PipelineResult``.

    Returns:
        Its ``MetricResults``.
    """
    box: Dict[str, Any] = {}

    def read() -> None:
        try:
            box["metrics"] = result.metrics()
        except BaseException as error:  # handed to the caller's thread below
            box["error"] = error

    limit = sys.getrecursionlimit()
    stack = threading.stack_size(512 * 1024 * 1024)
    sys.setrecursionlimit(max(limit, 200_000))
    try:
        reader = threading.Thread(target=read, name="pipeline-metrics")
        reader.start()
        reader.join()
    finally:
        threading.stack_size(stack)
        sys.setrecursionlimit(limit)
    if "error" in box:
        raise box["error"]
    return box["metrics"]
