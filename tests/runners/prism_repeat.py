"""Repeats the five writers' pipeline on Prism and prints each run's ledger.

    python -m tests.runners.prism_repeat --runs 12                      # batch
    python -m tests.runners.prism_repeat --runs 8 --stream --window-seconds 1

The engine tier runs each pipeline once a test; this command shows how often a run
goes wrong (see docs/RUNNERS.md, "What differed between engines"). Each run gets a
new emulator, a new Prism process and seeded faults; it prints every problem the
ledger finds, with the record's trace in the emulator's request log.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from beam_batchput.emulator import Emulator
from tests.reliability import harness
from tests.runners import engines, ledger_run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--stream", action="store_true",
                        help="PeriodicImpulse in fixed windows instead of Create")
    parser.add_argument("--window-seconds", type=float, default=1.0)
    parser.add_argument("--allowed-lateness", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args(argv)
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    troubled = 0
    for run in range(args.runs):
        emulator = Emulator(faults=ledger_run.fault_configs(seed=args.seed)).start()
        try:
            folder = tempfile.mkdtemp(prefix="prism-windows-")
            pipeline = beam.Pipeline(options=PipelineOptions([
                "--runner=PrismRunner", "--prism_location=%s" % engines.prism_path(),
                "--experiments=disable_prism_server_singleton"]
                + (["--streaming"] if args.stream else [])))
            ledger_run.build(pipeline, emulator.endpoint_url, args.records, folder,
                             streaming=args.stream, window_seconds=args.window_seconds,
                             allowed_lateness=args.allowed_lateness)
            result = ledger_run.run(pipeline, 120.0)
            book = ledger_run.ledger(args.records, folder, emulator,
                                     ledger_run.metrics_of(result))
            traces = harness._read_log(emulator.requests())[0]
            print("run %d: lost %d, duplicated %d, written %d, dead letters %d" % (
                run, book.lost, book.duplicated, sum(book.written.values()),
                sum(sum(c.values()) for c in book.dead_letters.values())), flush=True)
            for problem in book.problems:
                service = problem.split()[0]
                n = int(problem.split("record ")[1].split()[0].rstrip(":"))
                print("    %s; request log: %s" % (problem, traces[service].get(n)), flush=True)
            troubled += bool(book.problems)
        finally:
            emulator.stop()
    print("%d of %d runs had problems" % (troubled, args.runs))
    return 1 if troubled else 0


if __name__ == "__main__":
    sys.exit(main())
