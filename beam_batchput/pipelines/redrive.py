"""Redrive: read dead-letter Avro files, rebuild the records, write them again.

After fixing a cause (a missing resource, a permission), run::

    beam-batchput-redrive --dead_letters 'out/dlq/*.avro' \\
        --redrive_output out/redrive --error_codes ResourceNotFoundException \\
        --region_name eu-west-1

(or ``python -m beam_batchput.pipelines.redrive``).

Each selected dead letter's original record goes through its service's writer
again; what fails again is written to ``--redrive_output`` as new dead letters. Dead
letters not selected by the filters are left alone in the input files.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import time
from typing import Any, Dict, Iterator, List, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms import window

from beam_batchput.avro import WriteDeadLettersToAvro, dead_letter_from_avro, record_from_dead_letter
from beam_batchput.core.records import DeadLetter, Stage
from beam_batchput.pipelines import _cli
from beam_batchput.pipelines._codes import known_error_codes
from beam_batchput.pipelines.options import WriterOptions, run_to_completion
from beam_batchput.registry import names_in_prose
from beam_batchput.writers import WRITERS, writer_info

__all__ = ["RedriveOptions", "build", "main", "run"]

_UNREDRIVABLE = "unredrivable"


def _csv(value: Optional[str]) -> List[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


class RedriveOptions(PipelineOptions):
    """Options of the redrive pipeline."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--dead_letters", help="File pattern of dead-letter Avro files.")
        parser.add_argument("--redrive_output", help="Folder for the redrive's own dead letters.")
        parser.add_argument("--services", default="",
                            help="Comma-separated services to redrive: %s (botocore "
                                 "names accepted too; default: all)." % names_in_prose("and"))
        parser.add_argument("--stages", default="",
                            help="Comma-separated stages to redrive (default: all).")
        parser.add_argument("--error_codes", default="",
                            help="Comma-separated error codes to redrive (default: all).")

    def validated(self) -> "RedriveOptions":
        """Checks the options; raises ValueError naming the first bad one."""
        if not self.dead_letters:
            raise ValueError("--dead_letters (a file pattern of dead-letter Avro files) is required")
        if not self.redrive_output:
            raise ValueError("--redrive_output (a folder for new dead letters) is required")
        self.view_as(WriterOptions).validate_writer()
        self.service_names()
        bad_stages = sorted(set(_csv(self.stages)) - set(Stage.ALL))
        if bad_stages:
            raise ValueError("--stages names unknown stage(s) %s; known: %s"
                             % (", ".join(bad_stages), ", ".join(Stage.ALL)))
        codes = set().union(*(known_error_codes(s) for s in self.service_names() or WRITERS))
        for code in _csv(self.error_codes):
            if code not in codes:
                close = difflib.get_close_matches(code, sorted(codes), n=1, cutoff=0.6)
                raise ValueError("--error_codes names %r, a code no dead letter of %s carries%s"
                                 % (code, ", ".join(sorted(WRITERS[s].short_name for s in
                                                           self.service_names() or WRITERS)),
                                    "; did you mean %r?" % close[0] if close else ""))
        return self

    def service_names(self) -> List[str]:
        """The botocore names of ``--services`` (short names or botocore names)."""
        names = []
        for name in _csv(self.services):
            try:
                names.append(writer_info(name).service)
            except ValueError:
                raise ValueError("--services names unknown service(s) %s; known: %s" % (
                    name, ", ".join(sorted(i.short_name for i in WRITERS.values())))) from None
        return names


class _Select(beam.DoFn):
    """Keeps the dead letters the filters select; routes their records by service."""

    def __init__(self, services: List[str], stages: List[str], codes: List[str]) -> None:
        self._services, self._stages, self._codes = set(services), set(stages), set(codes)

    def process(self, letter: DeadLetter) -> Iterator[Any]:
        if ((self._services and letter.service not in self._services)
                or (self._stages and letter.stage not in self._stages)
                or (self._codes and letter.error_code not in self._codes)):
            Metrics.counter("beam_batchput.redrive", "left_alone").inc()
            return
        if letter.service not in WRITERS:
            yield TaggedOutput(_UNREDRIVABLE, letter._replace(
                error_code="UnknownService", stage=Stage.VALIDATION,
                error_message="no writer for service %r" % letter.service))
            return
        try:
            record = record_from_dead_letter(letter)
        except ValueError as error:
            yield TaggedOutput(_UNREDRIVABLE, letter._replace(
                error_code="UndecodableRecord", stage=Stage.VALIDATION, error_message=str(error)))
            return
        Metrics.counter("beam_batchput.redrive", "redriven").inc()
        yield TaggedOutput(letter.service, record)


def build(pipeline: beam.Pipeline, options: RedriveOptions,
          **writer_kwargs: Any) -> Dict[str, beam.PCollection]:
    """Adds the redrive to ``pipeline``.

    Args:
        pipeline: The pipeline.
        options: Validated :class:`RedriveOptions`.
        **writer_kwargs: Extra keyword arguments for every writer.

    Returns:
        ``{"written": ..., "failed": ...}`` over all services.
    """
    options.validated()
    kwargs = options.view_as(WriterOptions).writer_kwargs()
    kwargs.update(writer_kwargs)
    now = time.time()
    routed = (pipeline
              | "Read" >> beam.io.ReadFromAvro(options.dead_letters)
              | "AsDeadLetters" >> beam.Map(
                  lambda r: window.TimestampedValue(dead_letter_from_avro(r), now))
              | "Select" >> beam.ParDo(_Select(options.service_names(), _csv(options.stages),
                                               _csv(options.error_codes)))
              .with_outputs(_UNREDRIVABLE, *sorted(WRITERS)))
    written, failed = [], [routed[_UNREDRIVABLE]]
    for service, info in sorted(WRITERS.items()):
        result = routed[service] | "Write-%s" % info.short_name >> info.writer(**kwargs)
        written.append(result.written)
        failed.append(result.failed)
    all_failed = tuple(failed) | "AllFailed" >> beam.Flatten()
    _ = all_failed | "DeadLetters" >> WriteDeadLettersToAvro(options.redrive_output, prefix="redrive")
    all_written = tuple(written) | "AllWritten" >> beam.Flatten()
    _cli.count_outcomes(all_written, all_failed)
    return {"written": all_written, "failed": all_failed}


_PROG = "beam-batchput-redrive"


def _parse(argv: Optional[List[str]]) -> RedriveOptions:
    return _cli.parse(argv, RedriveOptions, _PROG, __doc__,
                      check=lambda options: _cli.check_matches(options.dead_letters,
                                                               "--dead_letters"))


def run(argv: Optional[List[str]] = None) -> Any:
    """Checks the command line (exiting with usage on a mistake), runs to completion.

    Returns:
        The finished ``PipelineResult``.
    """
    return run_to_completion(_parse(argv), build)


def main(argv: Optional[List[str]] = None) -> int:
    """The command: runs the redrive, prints its summary, returns the exit status."""
    _cli.setup_logging()
    options = _parse(argv)
    return _cli.run_and_summarize(
        options, build, "redrive: %s" % options.dead_letters, options.redrive_output,
        notes=[("beam_batchput.redrive", "redriven", "dead letters selected and sent again"),
               ("beam_batchput.redrive", "left_alone", "dead letters not selected (left alone)")])


if __name__ == "__main__":
    sys.exit(main())
