"""Avro telemetry files → a service.

Batch, a fixed set of files::

    beam-batchput-avro-to-service --avro_input 'data/*.avro' --service sitewise \\
        --dead_letter_output out/dlq --region_name eu-west-1

Streaming, a folder watched for new files (``fileio.MatchContinuously``)::

    beam-batchput-avro-to-service --avro_input 'incoming/*.avro' --service sitewise \\
        --dead_letter_output out/dlq --watch_interval_seconds 10 --region_name eu-west-1

(or ``python -m beam_batchput.pipelines.avro_to_service``). Unreadable files and
refused records are written as dead letters to ``--dead_letter_output``; the run
ends with a summary of what was written and refused, and exits with status 1
when every record was refused (or more than ``--max_dead_letter_ratio``).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Dict, List, Optional

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.coders import BooleanCoder
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from beam_batchput.avro import ReadAvroRecords, WriteDeadLettersToAvro
from beam_batchput.pipelines import _cli
from beam_batchput.pipelines.options import WriterOptions, run_to_completion
from beam_batchput.registry import names_in_prose
from beam_batchput.writers import writer_info

__all__ = ["AvroToServiceOptions", "build", "main", "run"]


class AvroToServiceOptions(PipelineOptions):
    """Options of the Avro-to-service pipeline."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--avro_input", help="File pattern of Avro telemetry files.")
        parser.add_argument("--service", help="The writer: %s (botocore names are "
                                              "accepted too)." % names_in_prose())
        parser.add_argument("--dead_letter_output", help="Folder for dead letters (Avro).")
        parser.add_argument("--watch_interval_seconds", type=float, default=0.0,
                            help="Watch --avro_input for new files at this interval (streaming); "
                                 "0 reads the files there now (batch).")
        parser.add_argument("--watch_for_seconds", type=float, default=0.0,
                            help="Stop watching after this long (0: watch forever).")

    def validated(self) -> "AvroToServiceOptions":
        """Checks the options; raises ValueError naming the first bad one."""
        if not self.avro_input:
            raise ValueError("--avro_input (a file pattern of Avro files) is required")
        if not self.service:
            raise ValueError("--service is required")
        writer_info(self.service)  # raises ValueError naming the known services
        if not self.dead_letter_output:
            raise ValueError("--dead_letter_output (a folder for dead letters) is required")
        for name in ("watch_interval_seconds", "watch_for_seconds"):
            if getattr(self, name) < 0:
                raise ValueError("--%s must be >= 0, got %r" % (name, getattr(self, name)))
        if self.watch_for_seconds and not self.watch_interval_seconds:
            raise ValueError("--watch_for_seconds needs --watch_interval_seconds > 0 "
                             "(it bounds watching a folder)")
        self.view_as(WriterOptions).validate_writer()
        return self


class _FirstSeen(beam.DoFn):
    """Passes each file path's first match only."""

    SEEN = ReadModifyWriteStateSpec("seen", BooleanCoder())

    def process(self, element: Any, seen=beam.DoFn.StateParam(SEEN)) -> Any:
        if not seen.read():
            seen.write(True)
            yield element[1]


def build(pipeline: beam.Pipeline, options: AvroToServiceOptions,
          **writer_kwargs: Any) -> Dict[str, beam.PCollection]:
    """Adds the pipeline's transforms; returns ``{"written": ..., "failed": ...}``.

    Args:
        pipeline: The pipeline.
        options: The options.
        **writer_kwargs: Extra keyword arguments for the writer.
    """
    options.validated()
    info = writer_info(options.service)
    if options.watch_interval_seconds > 0:
        stop = (time.time() + options.watch_for_seconds if options.watch_for_seconds
                else None)
        # Implementation note: MatchContinuously's own deduplication runs on a
        # Watch transform that the Python DirectRunner cannot run in
        # streaming; matching every poll and keeping each path's first match
        # in a keyed state runs on every runner.
        matches = (pipeline
                   | "Watch" >> fileio.MatchContinuously(
                       options.avro_input, interval=options.watch_interval_seconds,
                       has_deduplication=False, start_timestamp=time.time(),
                       **({"stop_timestamp": stop} if stop else {}))
                   | "ByPath" >> beam.Map(lambda metadata: (metadata.path, metadata))
                   | "FirstSeen" >> beam.ParDo(_FirstSeen()))
    else:
        matches = pipeline | "Match" >> fileio.MatchFiles(options.avro_input)
    read = matches | "ReadAvro" >> ReadAvroRecords(schema_name=info.schema, service=info.service)
    kwargs = options.view_as(WriterOptions).writer_kwargs()
    kwargs.update(writer_kwargs)
    result = read["records"] | "Write" >> info.writer(**kwargs)
    failed = (read["failed"], result.failed) | "AllFailed" >> beam.Flatten()
    _ = failed | "DeadLetters" >> WriteDeadLettersToAvro(options.dead_letter_output)
    _cli.count_outcomes(result.written, failed)
    return {"written": result.written, "failed": failed}


_PROG = "beam-batchput-avro-to-service"


def _check_input(options: AvroToServiceOptions) -> None:
    if options.watch_interval_seconds > 0:
        try:
            _cli.check_matches(options.avro_input, "--avro_input")
        except ValueError as error:
            print("%s yet; watching for files every %g s" % (error, options.watch_interval_seconds),
                  file=sys.stderr, flush=True)
    else:
        _cli.check_matches(options.avro_input, "--avro_input")


def _parse(argv: Optional[List[str]]) -> AvroToServiceOptions:
    options = _cli.parse(argv, AvroToServiceOptions, _PROG, __doc__, check=_check_input)
    if options.watch_interval_seconds > 0:
        options.view_as(StandardOptions).streaming = True
    return options


def run(argv: Optional[List[str]] = None) -> Any:
    """Checks the command line (exiting with usage on a mistake), runs to completion.

    Returns:
        The finished ``PipelineResult``.
    """
    return run_to_completion(_parse(argv), build)


def main(argv: Optional[List[str]] = None) -> int:
    """The command: runs the pipeline, prints its summary, returns the exit status."""
    _cli.setup_logging()
    options = _parse(argv)
    return _cli.run_and_summarize(
        options, build, "avro_to_service: %s -> %s" % (options.avro_input, options.service),
        options.dead_letter_output)


if __name__ == "__main__":
    sys.exit(main())
