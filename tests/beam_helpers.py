"""Pipelines for tests: no command-line parsing, streaming on request."""

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline


def pipeline(streaming: bool = False, **options) -> TestPipeline:
    """A TestPipeline on the DirectRunner that ignores pytest's argv."""
    opts = PipelineOptions(flags=[], **options)
    opts.view_as(StandardOptions).streaming = streaming
    return TestPipeline(options=opts, argv=[])


class Collect:
    """An ``assert_that`` matcher that keeps what it saw, for checks after the run.

    Matchers are pickled into the pipeline, so what they see is kept in a
    class-level dict by key; read it with :meth:`pop` once the pipeline ran.
    """

    seen: dict = {}

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, actual) -> None:
        Collect.seen[self.key] = list(actual)

    @classmethod
    def pop(cls, key: str) -> list:
        return cls.seen.pop(key)
