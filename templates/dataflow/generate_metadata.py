"""Writes the service parameters of the Flex Template metadata from the writers.

The ``service`` parameter of ``avro_to_service.metadata.json`` and the
``services`` parameter of ``redrive.metadata.json`` list the services by name;
both come from ``beam_batchput.writers.WRITERS`` so that a new writer needs
only ``python -m templates.dataflow.generate_metadata`` here. ``--check``
changes nothing and exits 1 when a committed file differs from what it would
write (the test suite runs that check).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional

from beam_batchput.writers import WRITERS

__all__ = ["accepted_names", "generated", "main"]

_HERE = os.path.dirname(os.path.abspath(__file__))


def accepted_names() -> List[str]:
    """Every name the pipelines accept for a service: short names, then botocore names."""
    infos = sorted(WRITERS.values(), key=lambda info: info.short_name)
    names = [info.short_name for info in infos]
    return names + [info.service for info in infos if info.service not in names]


def _short_names() -> str:
    return ", ".join(sorted(info.short_name for info in WRITERS.values()))


def _service_parameters() -> Dict[str, Dict[str, Dict[str, Any]]]:
    alternatives = "|".join(accepted_names())
    return {
        "avro_to_service": {"service": {
            "helpText": "The writer: %s (botocore names such as iotsitewise are accepted too)."
                        % _short_names(),
            "regexes": ["^(%s)$" % alternatives]}},
        "redrive": {"services": {
            "helpText": "Comma-separated services to redrive, of %s (botocore names such as "
                        "iotsitewise are accepted too); empty for all. On the gcloud command "
                        "line, give several with another delimiter: "
                        "--parameters ^~^services=sitewise,connect" % _short_names(),
            "regexes": ["^(%s)(,(%s))*$" % (alternatives, alternatives)]}},
    }


def path_of(template: str) -> str:
    """The metadata file of ``template``."""
    return os.path.join(_HERE, "%s.metadata.json" % template)


def generated(template: str) -> str:
    """The text of ``template``'s metadata file with its service parameter regenerated."""
    with open(path_of(template), encoding="utf-8") as handle:
        metadata = json.load(handle)
    updates = _service_parameters()[template]
    found = set()
    for parameter in metadata["parameters"]:
        if parameter["name"] in updates:
            parameter.update(updates[parameter["name"]])
            found.add(parameter["name"])
    missing = sorted(set(updates) - found)
    if missing:
        raise ValueError("%s has no parameter %s" % (path_of(template), ", ".join(missing)))
    return json.dumps(metadata, indent=2, ensure_ascii=False) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    """Rewrites both metadata files, or with ``--check`` reports those out of date."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="Change nothing; exit 1 if a file is out of date.")
    args = parser.parse_args(argv)
    stale = []
    for template in sorted(_service_parameters()):
        text = generated(template)
        with open(path_of(template), encoding="utf-8") as handle:
            current = handle.read()
        if current != text:
            stale.append(path_of(template))
            if not args.check:
                with open(path_of(template), "w", encoding="utf-8") as handle:
                    handle.write(text)
    if args.check and stale:
        sys.stderr.write("out of date (run python -m templates.dataflow.generate_metadata): %s\n"
                         % ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
