"""Mutation testing, bounded in time, with per-module scores and a survivors file.

Drives mutmut (configured in ``setup.cfg``'s ``[mutmut]`` section: what it
mutates and the fast test selection it runs) one module at a time, so a run
that runs out of time still leaves finished modules scored. Writes
``out/mutation/scores.md`` (killed / tested per module and per package) and
``out/mutation/survivors.txt`` (each surviving mutant with its diff).

Usage:
    python tools/mutate.py [--budget SECONDS] [--max-children N] [--sample N]
                           [--which unchecked|survivors|all] [--tests PREFIXES]
                           [--fresh] [MODULE ...]

``MODULE`` is a dotted module (``beam_batchput.core.batching``); none means
every module the configuration mutates. mutmut keeps results in ``mutants/``:
a second run goes on with the mutants that have no verdict yet; after the
tests change, ``--which survivors`` runs the survivors again, ``--which all``
everything, and ``--fresh`` forgets every result first.

Each mutant runs the tests of the configured selection that reach the mutated
function. ``--tests tests/unit`` narrows that to the tests under the given node
id prefixes (comma-separated, run in that order: ``tests/unit,tests/contract``
runs the unit tests first, so a mutant they kill stops there): the pipeline
tests of ``tests/contract`` take about 90 s a mutant on the send path, the unit
tests a few seconds. A mutant none of the kept tests reach is "no tests", not
killed, and runs again on the next run.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from typing import Dict, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "out", "mutation")
# The order modules run in: the record's path first, then every other module
# the configuration mutates (found on disk, so a new module is never left out).
FIRST = [
    "beam_batchput.core.batching", "beam_batchput.core.packing", "beam_batchput.core.sending",
    "beam_batchput.core.sendloop", "beam_batchput.core.sender", "beam_batchput.core.verdict",
    "beam_batchput.core.prepare", "beam_batchput.core.errors", "beam_batchput.core.write",
    "beam_batchput.services.kinesis",
]
_SKIPPED = {"__init__", "transforms", "coders"}  # setup.cfg's do_not_mutate, and empty files


def _on_disk(package: str) -> List[str]:
    folder = os.path.join(ROOT, *package.split("."))
    return sorted("%s.%s" % (package, name[:-3]) for name in os.listdir(folder)
                  if name.endswith(".py") and name[:-3] not in _SKIPPED)


MODULES = FIRST + [m for m in _on_disk("beam_batchput.core") + _on_disk("beam_batchput.services")
                   if m not in FIRST] + ["beam_batchput.emulator.models"]
PACKAGES = ["beam_batchput.core", "beam_batchput.services", "beam_batchput.emulator"]
# mutmut's verdicts: a mutant is killed when a test failed or it hung.
KILLED = {"killed", "timeout", "segfault"}
TESTED = KILLED | {"survived", "suspicious"}
_NAME = re.compile(r"^\s*(?P<name>\S+): (?P<status>.+)$")


#: What tests/conftest.py reads to narrow and order the tests (``--tests``).
TESTS_VARIABLE = "BEAM_BATCHPUT_MUTATE_TESTS"


def _mutmut(*args: str, timeout: float, tests: str = "") -> subprocess.CompletedProcess:
    """Runs mutmut in a process group of its own; past ``timeout`` the whole group ends."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # mutmut puts its mutated copy first on the path
    env.pop(TESTS_VARIABLE, None)
    if tests:
        env[TESTS_VARIABLE] = tests
    process = subprocess.Popen([sys.executable, "-m", "mutmut", *args], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _module_of(name: str) -> str:
    # beam_batchput.core.errors.x_classify__mutmut_3, ...xǁClassǁmethod__mutmut_1
    return re.split(r"\.x(?:_|ǁ)", name, maxsplit=1)[0]


def results() -> Dict[str, str]:
    """Every mutant's verdict, by name."""
    listed = _mutmut("results", "--all", "true", timeout=600)
    verdicts = {}
    for line in listed.stdout.splitlines():
        found = _NAME.match(line)
        if found:
            verdicts[found.group("name")] = found.group("status").strip()
    return verdicts


def _names(module: str, sample: int, which: str) -> List[str]:
    """The module's mutants to run: ``which`` is "unchecked" (those without a
    verdict yet), "survivors" or "all"; ``sample`` keeps at most that many of
    the module's mutants, every k-th in name order (the same ones every run)."""
    known = results()
    if not any(_module_of(name) == module for name in known):
        # Not generated yet: a run that matches nothing generates every module's.
        _mutmut("run", "--max-children", "1", "%s.x_nothing_matches" % module, timeout=3600)
        known = results()
    names = sorted((n for n in known if _module_of(n) == module),
                   key=lambda n: (n.rsplit("_", 1)[0], int(n.rsplit("_", 1)[1])))
    if sample:
        names = names[::max(1, len(names) // sample)][:sample]
    if which == "unchecked":
        return [n for n in names if known[n] in ("not checked", "no tests")]
    if which == "survivors":
        return [n for n in names if known[n] in ("survived", "suspicious")]
    return names


def _score(counts: collections.Counter) -> Tuple[int, int, str]:
    killed = sum(counts[s] for s in KILLED)
    tested = sum(counts[s] for s in TESTED)
    return killed, tested, "%.1f %%" % (100.0 * killed / tested) if tested else "-"


def report(verdicts: Dict[str, str], diffs: bool) -> str:
    by_module: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for name, status in verdicts.items():
        by_module[_module_of(name)][status] += 1
    lines = ["| module | killed | tested | score | not run |", "|---|---|---|---|---|"]
    for module in sorted(by_module):
        counts = by_module[module]
        killed, tested, score = _score(counts)
        lines.append("| %s | %d | %d | %s | %d |" % (module, killed, tested, score,
                                                      counts["not checked"]))
    lines += ["", "| package | killed | tested | score |", "|---|---|---|---|"]
    for package in PACKAGES:
        total: collections.Counter = collections.Counter()
        for module, counts in by_module.items():
            if module.startswith(package + "."):
                total.update(counts)
        killed, tested, score = _score(total)
        lines.append("| %s | %d | %d | %s |" % (package, killed, tested, score))
    survivors = sorted(n for n, s in verdicts.items() if s in ("survived", "suspicious"))
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "survivors.txt"), "w", encoding="utf-8") as out:
        for name in survivors:
            out.write("== %s (%s)\n" % (name, verdicts[name]))
            if diffs:
                out.write(_mutmut("show", name, timeout=120).stdout.strip() + "\n")
            out.write("\n")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(OUT, "scores.md"), "w", encoding="utf-8") as out:
        out.write(text)
    return text


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="dotted modules; default: all")
    parser.add_argument("--budget", type=float, default=3600.0,
                        help="seconds for the whole run (default 3600)")
    parser.add_argument("--max-children", type=int, default=2,
                        help="mutants tested at once (default 2)")
    parser.add_argument("--fresh", action="store_true", help="forget earlier results")
    parser.add_argument("--which", choices=("unchecked", "survivors", "all"),
                        default="unchecked",
                        help="mutants to run: without a verdict yet (default), the survivors "
                             "(after the tests changed), or all")
    parser.add_argument("--no-diffs", action="store_true", help="survivor names only")
    parser.add_argument("--tests", default="",
                        help="only the tests under these comma-separated node id prefixes, "
                             "in that order (e.g. tests/unit); default: the whole selection")
    parser.add_argument("--sample", type=int, default=0,
                        help="test at most this many mutants per module, spread evenly over "
                             "its mutants (default 0: all); the score is then an estimate")
    args = parser.parse_args(argv)
    if args.fresh:
        shutil.rmtree(os.path.join(ROOT, "mutants"), ignore_errors=True)
    deadline = time.monotonic() + args.budget
    unfinished = []
    for module in args.modules or MODULES:
        left = deadline - time.monotonic()
        if left < 60:
            unfinished.append(module)
            continue
        print("mutating %s (%.0f s left)" % (module, left), flush=True)
        names = _names(module, args.sample, args.which)
        if not names:
            continue
        try:
            run = _mutmut("run", "--max-children", str(args.max_children), *names,
                          timeout=left, tests=args.tests)
        except subprocess.TimeoutExpired:
            unfinished.append(module)
            continue
        if run.returncode != 0:
            print(run.stdout[-3000:], run.stderr[-3000:], sep="\n")
            return run.returncode
    print(report(results(), diffs=not args.no_diffs))
    if unfinished:
        print("out of time before finishing: %s (run again to go on)" % ", ".join(unfinished))
    print("survivors: %s" % os.path.join(OUT, "survivors.txt"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
