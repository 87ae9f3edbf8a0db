"""Where figure 2's microseconds go: ``python -m benchmarks.profile_cpu [--points N]``.

Runs the SiteWise writer of figure 2 on the stub under ``cProfile`` in every
thread (the bundle's thread and the sender threads), timing each by its own CPU
time, and prints the time per
point by the module that spends it (own time, so the shares add up), then the
costliest functions. cProfile's own overhead inflates every figure by a
similar factor; read the shares, not the absolute values, against figure 2.
"""

from __future__ import annotations

import argparse
import cProfile
import collections
import os
import pstats
import sys
import threading
import time
from typing import Any, Dict, List, Tuple

from benchmarks import run, stub
from benchmarks.workloads import workloads

# Module path fragments → the part of the path they belong to, first match wins.
_PARTS: Tuple[Tuple[str, str], ...] = (
    ("beam_batchput/services/", "service module (validation, shaping)"),
    ("beam_batchput/core/prepare", "prepare step"),
    ("beam_batchput/core/batching", "batching step"),
    ("beam_batchput/core/packing", "packing"),
    ("beam_batchput/core/sending", "send step, receipts"),
    ("beam_batchput/core/sender", "sender (retries, failures)"),
    ("beam_batchput/core/records", "records (record JSON, receipts)"),
    ("beam_batchput/core/", "other core"),
    ("botocore/", "botocore"),
    ("boto3/", "botocore"),
    ("urllib3/", "botocore"),
    ("apache_beam/", "Beam runner"),
    ("{built-in method _pickle", "pickle"),
    ("{method 'dumps' of '_pickle", "pickle"),
    ("{built-in method _json", "json (C)"),
    ("json/", "json"),
    ("{method 'encode' of '_json", "json (C)"),
    ("threading.py", "threads"),
    ("concurrent/", "threads"),
    ("{method 'acquire'", "threads"),
    ("queue.py", "threads"),
    ("grpc", "Beam runner"),
    ("google/protobuf", "Beam runner"),
)


def _part(filename: str, name: str) -> str:
    where = filename if filename != "~" else name
    for fragment, part in _PARTS:
        if fragment in where:
            return part
    return "other (builtins, gc, stdlib)"


class _AllThreads:
    """cProfile in the calling thread and in every thread started after :meth:`start`."""

    def __init__(self) -> None:
        self.profiles: List[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _new(self) -> cProfile.Profile:
        profile = cProfile.Profile(time.thread_time)
        with self._lock:
            self.profiles.append(profile)
        return profile

    def start(self) -> None:
        self._original = threading.Thread.run
        profiler = self

        def run_profiled(thread: threading.Thread) -> None:
            profile = profiler._new()
            profile.enable()
            try:
                profiler._original(thread)
            finally:
                profile.disable()

        threading.Thread.run = run_profiled  # type: ignore[method-assign]
        self._main = self._new()
        self._main.enable()

    def stop(self) -> pstats.Stats:
        self._main.disable()
        threading.Thread.run = self._original  # type: ignore[method-assign]
        stats = pstats.Stats(self.profiles[0])
        for profile in self.profiles[1:]:
            try:
                stats.add(profile)
            except TypeError:  # a thread still running has no stats yet
                pass
        return stats


def profile(points: int, **writer_kwargs: Any) -> Tuple[Dict[str, float], List[Tuple[float, str]]]:
    """(µs per point by part, [(µs per point, function)] costliest first)."""
    workload = next(w for w in workloads() if w.service == "iotsitewise")
    profiler = _AllThreads()
    profiler.start()
    run.run_writer(workload, points, stub.StubClientFactory("iotsitewise", "profile"),
                   **writer_kwargs)
    stats = profiler.stop()
    by_part: Dict[str, float] = collections.defaultdict(float)
    functions = []
    for (filename, line, name), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        by_part[_part(filename, name)] += own
        short = "%s:%d(%s)" % (os.path.relpath(filename) if filename != "~" else "", line, name)
        functions.append((1e6 * own / points, short))
    functions.sort(reverse=True)
    return {k: 1e6 * v / points for k, v in by_part.items()}, functions


def main(argv: Any = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--receipts", choices=("per-record", "per-request", "none"),
                        default=None, help="the writer's receipts option")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    kwargs = {} if args.receipts is None else {"receipts": args.receipts}
    parts, functions = profile(args.points, **kwargs)
    total = sum(parts.values())
    print("µs per point under cProfile, %d points, receipts=%s: %.1f in all"
          % (args.points, args.receipts or "default", total))
    print("| part | µs per point | share |\n|---|---|---|")
    for part, micros in sorted(parts.items(), key=lambda kv: -kv[1]):
        print("| %s | %.1f | %.0f%% |" % (part, micros, 100 * micros / total))
    print("\ncostliest functions (own time, µs per point):")
    for micros, name in functions[:args.top]:
        print("%7.2f  %s" % (micros, name))
    sys.stdout.flush()


if __name__ == "__main__":
    from benchmarks import profile_cpu as _module

    _module.main()
