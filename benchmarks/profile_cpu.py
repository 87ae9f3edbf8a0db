"""Where figure 2's microseconds go, sampled with py-spy (``pip install .[bench]``).

Two steps::

    py-spy record -r 250 --gil -f raw -o /tmp/cpu.txt -- \\
        python -m benchmarks.profile_cpu run [--receipts none]
    python -m benchmarks.profile_cpu parts /tmp/cpu.txt --us-per-point 35.0

``run`` writes figure 2's SiteWise workload twice on the stub; ``parts``
reads the samples taken while the writer ran (holding the interpreter lock:
the pipeline in the main thread, and every other thread, the sender threads
and the runner's) and splits a figure-2 measurement (the µs per point to share
out) by the step of the record's path that spent it.
"""

from __future__ import annotations

import argparse
import collections
import re
from typing import Any, Dict, List, Tuple

# A sample belongs to the first part whose frame fragment its stack holds,
# searched from the innermost frame out; the order makes the split exclusive.
_PARTS: Tuple[Tuple[str, str], ...] = (
    ("botocore/", "send: botocore (serialize, sign, parse)"),
    ("core/prebuilt.py", "send: botocore (serialize, sign, parse)"),
    ("request_body", "send: the request body (service module)"),
    ("_value_json", "send: the request body (service module)"),
    ("record_to_json", "prepare: the record's JSON"),
    ("services/", "prepare: the service module (validation, shaping)"),
    ("core/packing.py", "batching: packing"),
    ("unpickle_all", "batching: loading buffered items"),
    ("_collector_paused", "batching: deferred garbage collection"),
    ("core/batching.py", "batching: state, pickling leftovers"),
    ("PrepareFn._emit", "prepare: chunks (pickling)"),
    ("core/prepare.py", "prepare: keying, chunking"),
    ("core/sender.py", "send: retries, matching the response"),
    # "SendFn._emit (", not "SendFn._emit_all": the loop's work runs under that one.
    ("SendFn._emit (", "send: receipts"),
    ("core/sendloop.py", "send: queueing, harvesting"),
    ("core/concurrency.py", "send: queueing, harvesting"),
    ("core/sending.py", "send: queueing, harvesting"),
    ("core/metrics.py", "send: metrics"),
    ("benchmarks/workloads.py", "source (subtracted in figure 2)"),
)
_RUNNER = "Beam runner (per element, state, coders, set-up)"


def run(receipts: str) -> None:
    """The py-spy target: figure 2's writer on the stub, twice."""
    from benchmarks import run as bench
    from benchmarks import stub
    from benchmarks.workloads import workloads

    workload = next(w for w in workloads() if w.service == "iotsitewise")
    kwargs: Dict[str, Any] = {} if receipts == "per_record" else {"receipts": receipts}
    for _ in range(2):
        bench.run_writer(workload, 50_000, stub.StubClientFactory("iotsitewise", "profile"),
                         **kwargs)


def parts(path: str) -> Dict[str, int]:
    """Samples inside ``run_writer``, by part."""
    counts: Dict[str, int] = collections.Counter()
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            stack, _, number = line.rstrip().rpartition(" ")
            frames: List[str] = [re.sub(r":\d+\)", ")", f) for f in stack.split(";")]
            if not (frames[0].startswith("Thread._bootstrap (threading.py)")
                    or any("run_writer" in f for f in frames)):
                continue  # imports and start-up in the main thread
            part = _RUNNER
            for frame in reversed(frames):
                found = next((p for fragment, p in _PARTS if fragment in frame), None)
                if found:
                    part = found
                    break
            counts[part] += int(number)
    return counts


def main(argv: Any = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    target = sub.add_parser("run", help="the writer, for py-spy to sample")
    target.add_argument("--receipts", choices=("per_record", "none"), default="per_record")
    table = sub.add_parser("parts", help="the samples, by part of the path")
    table.add_argument("raw", help="py-spy's --format raw output")
    table.add_argument("--us-per-point", type=float, required=True,
                       help="figure 2's connector µs per point, to share out")
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args.receipts)
        return
    counts = parts(args.raw)
    total = sum(counts.values())
    print("| part | share | µs per point |\n|---|---|---|")
    for part, number in sorted(counts.items(), key=lambda kv: -kv[1]):
        print("| %s | %.1f%% | %.1f |" % (part, 100.0 * number / total,
                                         args.us_per_point * number / total))
    print("| all (%d samples) | 100%% | %.1f |" % (total, args.us_per_point))


if __name__ == "__main__":
    from benchmarks import profile_cpu as _module

    _module.main()
