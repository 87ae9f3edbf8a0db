"""What every pipeline's command line shares: strict parsing, input checks, the end summary."""

from __future__ import annotations

import argparse
import difflib
import logging
import sys
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Type

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

from beam_batchput.pipelines.options import SummaryOptions, WriterOptions, pipeline_metrics

__all__: List[str] = []

_SUMMARY = "beam_batchput.summary"


class _GroupAdder:
    """Lets an options class's ``_add_argparse_args`` add to one help group."""

    add_value_provider_argument = _BeamArgumentParser.add_value_provider_argument

    def __init__(self, parser: argparse.ArgumentParser, title: str) -> None:
        self._parser = parser
        self._group = parser.add_argument_group(title)

    def add_argument(self, *args: Any, **kwargs: Any) -> Any:
        return self._group.add_argument(*args, **kwargs)

    def add_mutually_exclusive_group(self, *args: Any, **kwargs: Any) -> Any:
        return self._group.add_mutually_exclusive_group(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)


def _option_classes(first: Sequence[Type[PipelineOptions]]) -> List[Type[PipelineOptions]]:
    """``first``, then every other options class Beam parses (one per name)."""
    seen: Dict[str, Type[PipelineOptions]] = {}
    for cls in list(first) + list(PipelineOptions.__subclasses__()):
        seen.setdefault(str(cls), cls)
    return list(seen.values())


def build_parser(prog: str, description: str,
                 own: Sequence[Tuple[str, Type[PipelineOptions]]]) -> argparse.ArgumentParser:
    """A parser of every option the pipeline takes; ``own`` are listed first in ``--help``."""
    parser = _BeamArgumentParser(
        prog=prog, description=description, allow_abbrev=False,
        usage="%(prog)s [--option value ...]  (--help lists every option)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    titles = dict((cls, title) for title, cls in own)
    for cls in _option_classes([cls for _, cls in own]):
        title = titles.get(cls, "Beam: %s" % cls.__name__)
        cls._add_argparse_args(_GroupAdder(parser, title))  # pylint: disable=protected-access
    return parser


def _flag_of(arg: str) -> str:
    return arg.split("=", 1)[0]


def _closest(flag: str, parser: argparse.ArgumentParser) -> Optional[str]:
    known = [s for action in parser._actions for s in action.option_strings  # noqa: SLF001
             if s.startswith("--")]
    normal = {s.lower().replace("-", "_").lstrip("_"): s for s in known}
    wanted = flag.lower().replace("-", "_").lstrip("_")
    if wanted in normal:
        return normal[wanted]
    match = difflib.get_close_matches(wanted, list(normal), n=1, cutoff=0.75)
    return normal[match[0]] if match else None


def unknown_message(unknown: Iterable[str], parser: argparse.ArgumentParser) -> Optional[str]:
    """The error for arguments no option takes, naming the closest option; None if none."""
    for arg in unknown:
        if arg.startswith("-"):
            flag = _flag_of(arg)
            closest = _closest(flag, parser)
            return ("unrecognized option %s%s" % (
                flag, "; did you mean %s?" % closest if closest else ""))
        return "unexpected argument %r (options are --name value or --name=value)" % arg
    return None


def parse(argv: Optional[List[str]], options_class: Type[PipelineOptions], prog: str,
          description: str,
          check: Optional[Callable[[Any], None]] = None,
          require_region: bool = True) -> PipelineOptions:
    """Parses a pipeline's command line strictly and checks it; exits with usage on a mistake.

    Unknown or misspelled options, bad values and a missing Region stop here,
    before any job starts, with status 2.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).
        options_class: The pipeline's options; its ``validated()`` is called.
        prog: The command's name, for the usage message.
        description: The text ``--help`` begins with.
        check: Checks of the inputs (e.g. that a pattern matches files); raises
            ValueError.
        require_region: Whether a Region (or an endpoint) must be given.

    Returns:
        The checked options, ``--region_name`` filled in.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(prog, description, [
        ("%s options" % prog, options_class), ("writer options", WriterOptions),
        ("summary options", SummaryOptions)])
    _, unknown = parser.parse_known_args(argv)
    message = unknown_message(unknown, parser)
    if message:
        parser.error(message)
    options = options_class(argv)
    try:
        options.validated()
        options.view_as(SummaryOptions).validate_summary()
        if require_region:
            options.view_as(WriterOptions).resolve_region()
        if check is not None:
            check(options)
    except ValueError as error:
        parser.error(str(error))
    return options


class _CountFn(beam.DoFn):
    """Counts receipts by service, dead letters by service, stage and code."""

    def __init__(self, kind: str) -> None:
        self._kind = kind

    def setup(self) -> None:
        self._counters: Dict[str, Any] = {}

    def process(self, element: Any) -> None:
        if self._kind == "written":
            name = "written|%s" % element.service
        else:
            name = "refused|%s|%s|%s" % (element.service, element.stage, element.error_code)
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = Metrics.counter(_SUMMARY, name)
        counter.inc()


def count_outcomes(written: beam.PCollection, failed: beam.PCollection) -> None:
    """Adds the counting the end summary reads."""
    _ = written | "CountWritten" >> beam.ParDo(_CountFn("written"))
    _ = failed | "CountRefused" >> beam.ParDo(_CountFn("refused"))


def _short(service: str) -> str:
    from beam_batchput.writers import writer_info

    try:
        return writer_info(service).short_name
    except ValueError:
        return service


def _value(counter: Any) -> int:
    return int(counter.committed or counter.attempted or 0)


def summarize(result: Any, title: str, dead_letters: str,
              max_dead_letter_ratio: Optional[float],
              notes: Sequence[Tuple[str, str, str]] = ()) -> Tuple[str, int]:
    """The summary a person reads, and the exit status.

    Args:
        result: The finished pipeline's result.
        title: The summary's first line.
        dead_letters: Where the dead letters went.
        max_dead_letter_ratio: The share of refused records that fails the run.
        notes: (namespace, counter, label) of further counters to show.

    Returns:
        The text, and the status: 1 when every record was refused, or more than
        ``max_dead_letter_ratio`` of them; else 0.
    """
    metrics = pipeline_metrics(result)
    counters = metrics.query(MetricsFilter().with_namespace(_SUMMARY))["counters"]
    written: Dict[str, int] = {}
    refused: Dict[Tuple[str, str, str], int] = {}
    for counter in counters:
        parts = counter.key.metric.name.split("|")
        parts[1] = _short(parts[1])
        if parts[0] == "written":
            written[parts[1]] = written.get(parts[1], 0) + _value(counter)
        else:
            key = (parts[1], parts[2], parts[3])
            refused[key] = refused.get(key, 0) + _value(counter)
    total_written, total_refused = sum(written.values()), sum(refused.values())
    total = total_written + total_refused
    lines = ["", title, ""]
    for namespace, name, label in notes:
        found = metrics.query(MetricsFilter().with_namespace(namespace).with_name(name))
        lines.append("  %s: %d" % (label, sum(_value(c) for c in found["counters"])))
    lines.append("  records written: %d, refused (dead-lettered): %d"
                 % (total_written, total_refused))
    services = sorted(set(written) | {key[0] for key in refused})
    for service in services:
        lines.append("    %-16s written %8d   refused %8d" % (
            service, written.get(service, 0),
            sum(n for key, n in refused.items() if key[0] == service)))
    if refused:
        lines.append("  refused by service, stage and code:")
        for (service, stage, code), count in sorted(refused.items(), key=lambda kv: -kv[1]):
            lines.append("    %-16s %-18s %-36s %8d" % (service, stage, code, count))
        lines.append("  dead letters written to %s (Avro, schema 'dead_letter')" % dead_letters)
    status = 0
    if total == 0:
        lines.append("  no records were read")
    elif total_refused == total:
        status = 1
        lines.append("  FAILED: every record was refused")
    elif max_dead_letter_ratio is not None and total_refused > max_dead_letter_ratio * total:
        status = 1
        lines.append("  FAILED: %.1f%% of the records were refused, more than "
                     "--max_dead_letter_ratio %g allows"
                     % (100.0 * total_refused / total, max_dead_letter_ratio))
    return "\n".join(lines), status


def run_and_summarize(options: PipelineOptions, build: Any, title: str,
                      dead_letters: str, notes: Sequence[Tuple[str, str, str]] = ()) -> int:
    """Runs the pipeline, prints the summary, returns the exit status."""
    from beam_batchput.pipelines.options import run_to_completion

    result = run_to_completion(options, build)
    text, status = summarize(result, title, dead_letters,
                             options.view_as(SummaryOptions).max_dead_letter_ratio, notes)
    print(text, flush=True)
    return status


def check_matches(pattern: str, option: str) -> int:
    """The number of files ``pattern`` matches; raises ValueError naming the option if none."""
    from apache_beam.io.filesystem import BeamIOError
    from apache_beam.io.filesystems import FileSystems

    try:
        found = FileSystems.match([pattern])[0].metadata_list
    except (BeamIOError, ValueError) as error:  # ValueError: a scheme with no filesystem
        raise ValueError("%s %r cannot be listed: %s" % (option, pattern, error)) from None
    if not found:
        raise ValueError("%s %r matches no file" % (option, pattern))
    return len(found)


def setup_logging() -> None:
    """Warnings and errors on stderr; the summary goes to stdout."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
