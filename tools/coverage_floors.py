"""Checks the coverage floors per package, lines and branches apart.

Reads the combined data of ``make coverage`` (``coverage json``) and fails
when a package is under its floor for lines or for branches.

Usage: python tools/coverage_floors.py [coverage.json]
"""

from __future__ import annotations

import fnmatch
import json
import sys
from typing import Dict, List, Tuple

# Package glob: (line floor, branch floor), percent.
FLOORS: Dict[str, Tuple[float, float]] = {
    "beam_batchput/core/*": (95.0, 95.0),
    "beam_batchput/services/*": (95.0, 95.0),
    "beam_batchput/emulator/*": (85.0, 85.0),
}


def _totals(files: Dict[str, dict], pattern: str) -> Tuple[int, int, int, int]:
    lines = covered = branches = taken = 0
    for path, data in files.items():
        path = path.replace("\\", "/")
        path = path[path.find("beam_batchput/"):]  # absolute or relative, as measured
        if fnmatch.fnmatch(path, pattern):
            summary = data["summary"]
            lines += summary["num_statements"]
            covered += summary["covered_lines"]
            branches += summary.get("num_branches", 0)
            taken += summary.get("covered_branches", 0)
    return lines, covered, branches, taken


def _percent(part: int, whole: int) -> float:
    return 100.0 if whole == 0 else 100.0 * part / whole


def main(argv: List[str]) -> int:
    path = argv[0] if argv else "coverage.json"
    with open(path, encoding="utf-8") as handle:
        files = json.load(handle)["files"]
    failed = False
    print("%-28s %8s %8s %10s" % ("package", "lines", "branches", "floors"))
    for pattern, (line_floor, branch_floor) in FLOORS.items():
        lines, covered, branches, taken = _totals(files, pattern)
        if lines == 0:
            print("%-28s no measured file: the data does not cover this package" % pattern)
            failed = True
            continue
        line_pct, branch_pct = _percent(covered, lines), _percent(taken, branches)
        short = line_pct < line_floor or branch_pct < branch_floor
        failed = failed or short
        print("%-28s %7.1f%% %7.1f%% %4.0f/%-4.0f %s" % (
            pattern, line_pct, branch_pct, line_floor, branch_floor, "UNDER" if short else "ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
