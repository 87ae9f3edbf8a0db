"""Dense synthetic streams per writer, and their packing lower bounds."""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional

from beam_batchput.writers import WRITERS


class Workload(NamedTuple):
    """``records(n)`` yields n records; ``lower_bound(n)`` is the fewest requests of a
    writer built with ``writer_kwargs``."""

    service: str
    records: Callable[[int], Iterator[Dict[str, Any]]]
    lower_bound: Callable[[int], int]
    writer_kwargs: Optional[Dict[str, Any]] = None


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _sitewise(groups: int) -> Workload:
    def records(n: int) -> Iterator[Dict[str, Any]]:
        base = time.time() - 3600
        for i in range(n):  # interleaved: point i of property i % groups
            yield {"property_alias": "/bench/p%05d" % (i % groups), "value": float(i),
                   "timestamp": base + i / 1000.0}

    def lower_bound(n: int) -> int:
        per_group = [n // groups + (1 if g < n % groups else 0) for g in range(groups)]
        return _ceil(sum(_ceil(p, 10) for p in per_group), 10)

    return Workload("iotsitewise", records, lower_bound)


def _twinmaker(groups: int) -> Workload:
    def records(n: int) -> Iterator[Dict[str, Any]]:
        base = time.time() - 3600
        for i in range(n):
            yield {"workspace_id": "bench", "entity_id": "e%05d" % (i % groups),
                   "component_name": "c", "property_name": "p", "value": float(i),
                   "timestamp": base + i / 1000.0}

    def lower_bound(n: int) -> int:
        per_group = [n // groups + (1 if g < n % groups else 0) for g in range(groups)]
        return _ceil(sum(_ceil(p, 10) for p in per_group), 10)

    return Workload("iottwinmaker", records, lower_bound)


def _datazone(entities: int) -> Workload:
    def records(n: int) -> Iterator[Dict[str, Any]]:
        base = time.time() - 3600
        for i in range(n):
            yield {"domain_id": "dzd_bench", "entity_type": "ASSET",
                   "entity_id": "a%05d" % (i % entities), "form_name": "quality",
                   "type_identifier": "amazon.datazone.DataQualityResultFormType",
                   "timestamp": base + i / 1000.0, "content": json.dumps({"i": i})}

    def lower_bound(n: int) -> int:
        per_entity = [n // entities + (1 if e < n % entities else 0) for e in range(entities)]
        return sum(_ceil(p, 10) for p in per_entity)

    # One form per request by default (each form its own clientToken); the packing is
    # measured where it has work to do, at 10 forms per request.
    return Workload("datazone", records, lower_bound, {"max_forms_per_request": 10})


def _connect(tables: int) -> Workload:
    def records(n: int) -> Iterator[Dict[str, Any]]:
        for i in range(n):
            yield {"instance_id": "11111111-2222-3333-4444-555555555555",
                   "data_table_id": "t%03d" % (i % tables), "attribute_name": "status",
                   "value": "v%d" % i, "primary_values": {"id": "r%07d" % i}}

    def lower_bound(n: int) -> int:
        per_table = [n // tables + (1 if t < n % tables else 0) for t in range(tables)]
        return sum(_ceil(p, 25) for p in per_table)

    return Workload("connect", records, lower_bound)


def _iotevents() -> Workload:
    def records(n: int) -> Iterator[Dict[str, Any]]:
        for i in range(n):  # about 60-byte payloads
            yield {"input_name": "bench_input",
                   "payload": json.dumps({"sensor": "s%04d" % (i % 500), "reading": i,
                                          "unit": "kPa"})}

    def lower_bound(n: int) -> int:
        return _ceil(n, 10)

    return Workload("iotevents-data", records, lower_bound)


def _kinesis(streams: int) -> Workload:
    def records(n: int) -> Iterator[Dict[str, Any]]:
        for i in range(n):  # about 60-byte records
            yield {"stream_name": "bench-%d" % (i % streams), "partition_key": "s%04d" % (i % 500),
                   "data": {"sensor": "s%04d" % (i % 500), "reading": i, "unit": "kPa"}}

    def lower_bound(n: int) -> int:
        per_stream = [n // streams + (1 if s < n % streams else 0) for s in range(streams)]
        return sum(_ceil(p, 500) for p in per_stream)

    return Workload("kinesis", records, lower_bound)


_ALL = {
    "iotsitewise": lambda: _sitewise(1000),
    "iottwinmaker": lambda: _twinmaker(1000),
    "datazone": lambda: _datazone(100),
    "connect": lambda: _connect(10),
    "iotevents-data": _iotevents,
    "kinesis": lambda: _kinesis(2),
}


def workloads() -> List[Workload]:
    """A workload for every writer available."""
    return [_ALL[service]() for service in WRITERS if service in _ALL]
