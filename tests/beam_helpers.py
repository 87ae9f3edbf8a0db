"""Pipelines for tests: no command-line parsing, streaming on request."""

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline


def pipeline(streaming: bool = False, **options) -> TestPipeline:
    """A TestPipeline on the DirectRunner that ignores pytest's argv."""
    opts = PipelineOptions(flags=[], **options)
    opts.view_as(StandardOptions).streaming = streaming
    return TestPipeline(options=opts, argv=[])
