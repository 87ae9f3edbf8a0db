"""The pipelines' shared options; they live in :mod:`beam_batchput.pipelines.options`."""

from beam_batchput.pipelines.options import (  # noqa: F401 (re-exported)
    SummaryOptions,
    WriterOptions,
    pipeline_metrics,
    run_to_completion,
)
