"""Where dead letters go: Beam error handlers, and the dead-letter threshold.

A writer hands its dead letters to an ``apache_beam.transforms.error_handling.
ErrorHandler`` when given one (the pipeline then refuses to run while that
handler is left unclosed), or returns them as ``failed``.

The threshold follows Beam's ``with_exception_handling(threshold=...)``: the
records going in and the dead letters coming out are counted with a global
combine per window (the input's windows, or ``windowing``), and a step
downstream of both counts fails the pipeline when, in some window, dead
letters exceed ``threshold`` times the records. Its granularity is therefore
the window: over a bounded input in the global window it judges the whole
input once, at the end; an unbounded input in the global window is never
judged, so streaming pipelines give ``windowing`` (e.g. ``FixedWindows(600)``).
"""

from __future__ import annotations

import numbers
from typing import Any, Optional

import apache_beam as beam
from apache_beam.transforms.window import WindowFn

from beam_batchput.core.errors import DeadLetterThresholdExceeded

__all__ = ["check_threshold", "validate_threshold"]


def validate_threshold(threshold: Optional[float], windowing: Optional[WindowFn]) -> None:
    """Raises ValueError unless ``threshold`` is None or a ratio in [0, 1]."""
    if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, numbers.Real)
            or not 0.0 <= threshold <= 1.0):
        raise ValueError("dead_letter_threshold must be None or a ratio from 0 to 1, got %r"
                         % (threshold,))
    if windowing is not None and not isinstance(windowing, WindowFn):
        raise ValueError("threshold_windowing must be None or a WindowFn, got %r"
                         % (windowing,))
    if windowing is not None and threshold is None:
        raise ValueError("threshold_windowing=%r needs a dead_letter_threshold" % (windowing,))


class _Rewindow(beam.PTransform):
    def __init__(self, windowing: Optional[WindowFn]) -> None:
        super().__init__()
        self._windowing = windowing

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        if self._windowing is None:
            return pcoll
        return pcoll | beam.WindowInto(self._windowing)


def _count() -> beam.PTransform:
    return beam.Map(lambda _: 1).with_output_types(int)


class _CheckRatio(beam.DoFn):
    def __init__(self, service: str, threshold: float) -> None:
        self._service = service
        self._threshold = threshold

    def process(self, dead_letters: int, records: int,
                window: Any = beam.DoFn.WindowParam) -> Any:
        if dead_letters > records * self._threshold:
            raise DeadLetterThresholdExceeded(self._service, window, dead_letters, records,
                                              self._threshold)
        return []


def check_threshold(records: beam.PCollection, failed: beam.PCollection, service: str,
                    threshold: float, windowing: Optional[WindowFn] = None) -> None:
    """Adds the steps that fail the pipeline when ``failed`` outweighs ``records``.

    Args:
        records: The writer's input.
        failed: Its dead letters (one per refused record, in the record's window).
        service: The botocore service name, for the error.
        threshold: Dead letters allowed per record, from 0 to 1.
        windowing: The windows to judge in; the input's by default.
    """
    total = records | "CountRecords" >> (
        _Rewindow(windowing) | _count() | beam.CombineGlobally(sum).as_singleton_view())
    bad = failed | "CountDeadLetters" >> (
        _Rewindow(windowing) | _count() | beam.CombineGlobally(sum).without_defaults())
    _ = bad | "CheckThreshold" >> beam.ParDo(_CheckRatio(service, threshold), total)
