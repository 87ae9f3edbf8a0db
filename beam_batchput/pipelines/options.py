"""Options every pipeline here shares: how its writers reach the service.

Implementation note: Beam parses the flags of every ``PipelineOptions``
subclass with one parser, so each flag is defined once, here or in exactly
one pipeline's options.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import threading
from typing import Any, Callable, Dict, Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions


class WriterOptions(PipelineOptions):
    """Client and batching options of the writers."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--region_name", default=None,
                            help="AWS Region of the writers, e.g. eu-west-1 (default: "
                                 "AWS_REGION or AWS_DEFAULT_REGION of the launching "
                                 "environment; required unless --endpoint_url is given, "
                                 "which signs for us-east-1 by default).")
        parser.add_argument("--endpoint_url", default=None,
                            help="A custom endpoint, e.g. the local emulator "
                                 "(http://127.0.0.1:4599).")
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

    def resolve_region(self, environ: Optional[Dict[str, str]] = None) -> str:
        """Sets ``--region_name`` where it was left out, before the job is submitted.

        From ``AWS_REGION`` or ``AWS_DEFAULT_REGION`` of the launching
        environment, else ``us-east-1`` when ``--endpoint_url`` is given.

        Returns:
            The Region.

        Raises:
            ValueError: When no Region is given and no endpoint either.
        """
        environ = os.environ if environ is None else environ
        region = (self.region_name or environ.get("AWS_REGION")
                  or environ.get("AWS_DEFAULT_REGION"))
        if not region and self.endpoint_url:
            region = "us-east-1"
        if not region:
            raise ValueError("--region_name is required (the AWS Region of the service, e.g. "
                             "--region_name eu-west-1), unless --endpoint_url is given")
        self.region_name = region
        return region

    def writer_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments for a ``WriteTo…`` transform."""
        self.validate_writer()
        return dict(region_name=self.region_name, endpoint_url=self.endpoint_url,
                    max_buffering_seconds=self.max_buffering_seconds,
                    max_in_flight=self.max_in_flight)


class SummaryOptions(PipelineOptions):
    """How a pipeline's end summary judges the run."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--max_dead_letter_ratio", type=float, default=None,
                            help="Exit with status 1 when more than this share (0..1) of the "
                                 "records was dead-lettered (default: only when every record "
                                 "was).")

    def validate_summary(self) -> None:
        """Raises ValueError naming a bad option."""
        ratio = self.max_dead_letter_ratio
        if ratio is not None and not (math.isfinite(ratio) and 0 <= ratio <= 1):
            raise ValueError("--max_dead_letter_ratio must be in [0, 1], got %r" % ratio)


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
