"""Avro in and out: record schemas, reading Avro files, a dead-letter sink.

Schemas ship in the package and load by name (:data:`SCHEMA_NAMES`). Records
read from Avro files (by fastavro, or Beam's ``ReadFromAvro``) are valid writer
input as they are.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import time
import uuid
import zlib
from typing import Any, Dict, Iterator, Mapping, Optional

import apache_beam as beam
import fastavro
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms import trigger, window
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Duration

from beam_batchput.core import coders as _coders  # noqa: F401 # registers the record coders
from beam_batchput.core.records import DeadLetter, Stage, record_to_json
from beam_batchput.registry import SERVICES

__all__ = [
    "SCHEMA_NAMES",
    "ReadAvroRecords",
    "WriteDeadLettersToAvro",
    "dead_letter_from_avro",
    "load_schema",
    "record_from_dead_letter",
]

_SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")

#: Names of the shipped schemas, one per writer's record type, and the dead letter.
SCHEMA_NAMES = ("dead_letter",) + tuple(row.schema for row in SERVICES)

_FAILED = "failed"


@functools.lru_cache(maxsize=None)
def _raw_schema(name: str) -> str:
    if name not in SCHEMA_NAMES:
        raise ValueError("unknown schema %r; known: %s" % (name, ", ".join(SCHEMA_NAMES)))
    with open(os.path.join(_SCHEMA_DIR, name + ".avsc"), encoding="utf-8") as handle:
        return handle.read()


def load_schema(name: str) -> Dict[str, Any]:
    """A shipped schema, parsed by fastavro.

    Args:
        name: One of :data:`SCHEMA_NAMES`, e.g. ``"sitewise_record"``.

    Raises:
        ValueError: for an unknown name.
    """
    return fastavro.parse_schema(json.loads(_raw_schema(name)))


def _field_names(name: str, required_only: bool = False) -> frozenset:
    fields = json.loads(_raw_schema(name))["fields"]
    return frozenset(f["name"] for f in fields if not (required_only and "default" in f))


def _decode_json(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$base64"}:
        return base64.b64decode(value["$base64"])
    return value


def record_from_dead_letter(letter: Any) -> Dict[str, Any]:
    """The original record of a dead letter, bytes restored.

    Args:
        letter: A :class:`DeadLetter` or a dict with its fields.

    Raises:
        ValueError: if the dead letter's record is not a JSON object.
    """
    text = letter["record"] if isinstance(letter, Mapping) else letter.record
    record = json.loads(text, object_hook=_decode_json)
    if not isinstance(record, dict):
        raise ValueError("the dead letter's record is not a JSON object: %.200s" % text)
    return record


def dead_letter_from_avro(record: Mapping[str, Any]) -> DeadLetter:
    """A :class:`DeadLetter` from a record of the dead-letter schema."""
    return DeadLetter(**{name: record[name] for name in DeadLetter._fields})


def _file_name(prefix: str, win: Any, pane_index: int, shard: int, shards: int) -> str:
    """``prefix-<window start>-<window end>-pane-<n>-<shard>-of-<shards>.avro``."""
    parts = [prefix]
    if isinstance(win, window.IntervalWindow):
        fmt = "%Y%m%dT%H%M%SZ"
        parts += [win.start.to_utc_datetime().strftime(fmt),
                  win.end.to_utc_datetime().strftime(fmt)]
    parts.append("pane-%d" % pane_index)
    parts.append("%05d-of-%05d" % (shard, shards))
    return "-".join(parts) + ".avro"


class _WriteAvroFileFn(beam.DoFn):
    """One (shard, records) group of one window firing → one Avro file.

    Implementation note: the file is written under a temporary name and renamed
    into place; its final name depends only on window, pane and shard, so a
    retried bundle rewrites the same file instead of adding a second one.
    """

    def __init__(self, path: str, prefix: str, shards: int, schema_name: str) -> None:
        self._path = path
        self._prefix = prefix
        self._shards = shards
        self._schema_name = schema_name

    def setup(self) -> None:
        self._schema = load_schema(self._schema_name)

    def process(self, element: Any, win=beam.DoFn.WindowParam,
                pane=beam.DoFn.PaneInfoParam) -> Iterator[str]:
        shard, records = element
        name = _file_name(self._prefix, win, pane.index if pane is not None else 0, shard,
                          self._shards)
        final = FileSystems.join(self._path, name)
        temporary = FileSystems.join(self._path, ".tmp-%s-%s" % (uuid.uuid4().hex, name))
        if not FileSystems.exists(self._path):
            FileSystems.mkdirs(self._path)
        handle = FileSystems.create(temporary)
        try:
            fastavro.writer(handle, self._schema, records, codec="deflate")
        finally:
            handle.close()
        if FileSystems.exists(final):
            FileSystems.delete([final])
        FileSystems.rename([temporary], [final])
        yield final


class WriteDeadLettersToAvro(beam.PTransform):
    """Writes dead letters to Avro files, in batch and in streaming.

    Dead letters are put in fixed windows of their records' timestamps. Each
    window's files are written when the watermark passes its end; dead letters
    that come later still (up to ``allowed_lateness_seconds``) go to further
    files of the same window with the next pane number in their names, so
    nothing is dropped at window end. Names say window, pane and shard:
    ``<prefix>-<start>-<end>-pane-<n>-<shard>-of-<shards>.avro``. Files are
    readable by plain fastavro; their schema is the shipped ``dead_letter``.

    Args:
        path: The folder to write into (local path or any Beam filesystem).
        prefix: The files' name prefix.
        window_seconds: Length of the file windows.
        shards: Files per window and firing.
        allowed_lateness_seconds: How late a dead letter may come and still be
            written to its window's files.
    """

    def __init__(self, path: str, *, prefix: str = "dead_letters", window_seconds: float = 60.0,
                 shards: int = 1, allowed_lateness_seconds: float = 7 * 86400.0) -> None:
        super().__init__()
        if not isinstance(path, str) or not path:
            raise ValueError("path must be a non-empty string, got %r" % (path,))
        if not isinstance(prefix, str) or not prefix or "/" in prefix:
            raise ValueError("prefix must be a non-empty file name part, got %r" % (prefix,))
        if not window_seconds > 0:
            raise ValueError("window_seconds must be positive, got %r" % (window_seconds,))
        if not isinstance(shards, int) or isinstance(shards, bool) or shards < 1:
            raise ValueError("shards must be a positive integer, got %r" % (shards,))
        if not allowed_lateness_seconds >= 0:
            raise ValueError("allowed_lateness_seconds must be >= 0, got %r"
                             % (allowed_lateness_seconds,))
        self._path = path
        self._prefix = prefix
        self._window_seconds = window_seconds
        self._shards = shards
        self._lateness = allowed_lateness_seconds

    def expand(self, letters: beam.PCollection) -> beam.PCollection:
        """Returns the PCollection of written file paths."""
        windowed = letters | "Stamp" >> beam.Map(_stamp_untimed) | "Window" >> beam.WindowInto(
            window.FixedWindows(self._window_seconds),
            trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
            accumulation_mode=trigger.AccumulationMode.DISCARDING,
            allowed_lateness=Duration.of(self._lateness))
        shards = self._shards
        return (windowed
                | "Shard" >> beam.Map(lambda letter: (
                    zlib.crc32(letter.record.encode("utf-8")) % shards, letter._asdict()))
                | "Group" >> beam.GroupByKey()
                | "Write" >> beam.ParDo(_WriteAvroFileFn(
                    self._path, self._prefix, shards, "dead_letter")))


def _stamp_untimed(letter: Any, timestamp=beam.DoFn.TimestampParam) -> Any:
    """Gives elements of bounded sources (timestamp -inf) the current time."""
    if timestamp == MIN_TIMESTAMP:
        return window.TimestampedValue(letter, time.time())
    return letter


class _ReadAvroFileFn(beam.DoFn):
    """A matched file → its records; an unreadable file → one dead letter."""

    def __init__(self, schema_name: Optional[str], service: str) -> None:
        self._schema_name = schema_name
        self._service = service

    def process(self, readable: Any) -> Iterator[Any]:
        path = readable.metadata.path
        count = 0
        try:
            with readable.open() as handle:
                reader = fastavro.reader(handle)
                if self._schema_name is not None:
                    self._check_schema(reader.writer_schema, path)
                for record in reader:
                    count += 1
                    yield record
        except _SchemaMismatch as error:
            yield TaggedOutput(_FAILED, self._letter(path, "SchemaMismatch", str(error), count))
        except (ValueError, EOFError, OSError, TypeError, KeyError, AssertionError) as error:
            # fastavro raises these for corrupt or non-Avro files.
            yield TaggedOutput(_FAILED, self._letter(
                path, "CorruptAvroFile", "%s: %s" % (type(error).__name__, error), count))

    def _check_schema(self, writer_schema: Mapping[str, Any], path: str) -> None:
        present = {f.get("name") for f in (writer_schema or {}).get("fields", [])}
        missing = sorted(_field_names(self._schema_name, required_only=True) - present)
        unknown = sorted(present - _field_names(self._schema_name))
        if missing or unknown:
            raise _SchemaMismatch("%s does not match schema %s: missing %s; unknown %s" % (
                path, self._schema_name, ", ".join(missing) or "none",
                ", ".join(unknown) or "none"))

    def _letter(self, path: str, code: str, message: str, count: int) -> DeadLetter:
        import datetime

        return DeadLetter(
            record=record_to_json({"file": path, "records_read_before_error": count}),
            service=self._service, error_code=code, error_message=message[:2000],
            stage=Stage.VALIDATION, attempts=0, resource=path,
            failed_at=datetime.datetime.now(datetime.timezone.utc).isoformat())


class _SchemaMismatch(ValueError):
    pass


class ReadAvroRecords(beam.PTransform):
    """Reads records from matched Avro files (``fileio.MatchFiles`` or
    ``fileio.MatchContinuously`` output), never skipping a bad file silently.

    Returns a tuple-like result: ``records`` (the files' records as dicts) and
    ``failed`` (a :class:`DeadLetter` per unreadable file, stage ``validation``,
    code ``CorruptAvroFile`` or ``SchemaMismatch``).

    Args:
        schema_name: If given, a file whose writer schema lacks a required
            field of this shipped schema is refused whole.
        service: The service named in the dead letters of refused files.
    """

    def __init__(self, schema_name: Optional[str] = None, service: str = "avro") -> None:
        super().__init__()
        if schema_name is not None:
            _raw_schema(schema_name)  # raises ValueError for an unknown name
        self._schema_name = schema_name
        self._service = service

    def expand(self, matches: beam.PCollection) -> Any:
        return (matches
                | "ReadMatches" >> fileio.ReadMatches()
                | "Read" >> beam.ParDo(_ReadAvroFileFn(self._schema_name, self._service))
                .with_outputs(_FAILED, main="records"))
