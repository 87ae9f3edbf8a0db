"""The engines the runner tests use: one version table, and a fetch into ``.engines/``.

Every version follows the installed apache-beam. Run ``python -m tests.runners.engines``
(``make engines``) to fetch what is missing; a second run finds everything cached and
fetches nothing. Each engine's outcome is written to ``.engines/status.json`` and printed:
the path it was installed to, or which artifact failed and what its registry answered.
The tests read that file, so an engine that could not be fetched fails them with the
fetch's own reason (unless ``BEAM_BATCHPUT_SKIP_ENGINES`` names it).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from typing import Dict, List, Optional

from apache_beam.options.pipeline_options import FlinkRunnerOptions
from apache_beam.version import __version__ as BEAM_VERSION

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENGINES = os.environ.get("BEAM_BATCHPUT_ENGINES_DIR", os.path.join(ROOT, ".engines"))
STATUS_FILE = os.path.join(ENGINES, "status.json")
SKIP_VARIABLE = "BEAM_BATCHPUT_SKIP_ENGINES"

# The version table. Beam's shaded Flink job server jar at the installed Beam version is
# tried first; the Maven Central these tests reach serves none at 2.7x, so the job server
# is then assembled from the non-shaded Flink runner of an older Beam Java release and its
# dependencies (JOB_SERVER_POM), started as FlinkJobServerDriver. The Python SDK and that
# job server speak Beam's portable protocol (Runner API protos, Fn API); Beam does not
# promise compatibility across releases, these tests are what shows it holds here. The
# newest Flink that Beam Java release publishes a runner for is 1.19, so the standalone
# cluster runs Flink 1.19, its distribution from PyPI's apache-flink-libraries.
FLINK_MINOR = "1.19"
FLINK_DIST_VERSION = "1.19.3"
ASSEMBLED_BEAM_JAVA = "2.62.0"
PRISM_MODULE = "github.com/apache/beam/sdks/v2/go/cmd/prism"
PYTHON_BOOT_MODULE = "github.com/apache/beam/sdks/v2/python/container"
FLINK_JOB_SERVER = "org.apache.beam:beam-runners-flink-%s-job-server:%s" % (FLINK_MINOR,
                                                                          BEAM_VERSION)
FLINK_RUNNER = "org.apache.beam:beam-runners-flink-%s:%s" % (FLINK_MINOR, ASSEMBLED_BEAM_JAVA)
FLINK_DRIVER = "org.apache.beam.runners.flink.FlinkJobServerDriver"
HERE = os.path.dirname(os.path.abspath(__file__))
JOB_SERVER_POM = os.path.join(HERE, "flink-job-server.pom.xml")
# Flink 1.19 on Java 17 reflects into these packages (the shaded jar's manifest opens
# them itself).
JAVA_OPENS = ["--add-opens=java.base/%s=ALL-UNNAMED" % package for package in (
    "java.lang", "java.lang.reflect", "java.io", "java.net", "java.nio", "java.math",
    "java.text", "java.time", "java.util", "java.util.concurrent",
    "java.util.concurrent.atomic", "sun.nio.ch")]
# Spark: Beam's shaded Spark 3 job server jar at the installed Beam version first; else
# the Spark 3 runner of the same Beam Java release as the Flink one (2.70.0's runner is
# served, but its beam-runners-java-job-service is not; 2.71 to 2.75 serve no Spark
# runner), with Spark's own jars, which the runner's POM declares `provided`. Beam Java
# 2.62 builds against Spark 3.2; Spark 3.5 is what Maven Central serves here, and the
# test is what shows the two work together.
SPARK_VERSION = "3.5.7"
SPARK_JOB_SERVER = "org.apache.beam:beam-runners-spark-3-job-server:%s" % BEAM_VERSION
SPARK_RUNNER = "org.apache.beam:beam-runners-spark-3:%s" % ASSEMBLED_BEAM_JAVA
SPARK_DRIVER = "org.apache.beam.runners.spark.SparkJobServerDriver"
SPARK_JOB_SERVER_POM = os.path.join(HERE, "spark-job-server.pom.xml")
# Spark 3.5 on Java 17: the packages its launcher opens (JavaModuleOptions).
SPARK_OPENS = ["--add-opens=java.base/%s=ALL-UNNAMED" % package for package in (
    "java.lang", "java.lang.invoke", "java.lang.reflect", "java.io", "java.net", "java.nio",
    "java.util", "java.util.concurrent", "java.util.concurrent.atomic", "sun.nio.ch",
    "sun.nio.cs", "sun.security.action", "sun.util.calendar")] + [
    "--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "-Djdk.reflect.useDirectMethodHandle=false"]
FLINK_DIST = "apache-flink-libraries==%s" % FLINK_DIST_VERSION

ENGINE_NAMES = ("prism", "python-boot", "flink-job-server", "flink-job-server-jar",
                "flink-dist", "spark-job-server")
# What each test engine needs (the names BEAM_BATCHPUT_SKIP_ENGINES accepts).
NEEDS = {"prism": ("prism",),
         "flink-cluster": ("flink-dist",),
         "flink": ("flink-job-server",),
         "flink-standalone": ("flink-job-server", "flink-dist"),
         # The unbounded pipelines on Flink (embedded and standalone) (docs/RUNNERS.md).
         "flink-stream": ("flink-job-server", "flink-dist"),
         # The same streams read from PeriodicImpulse, whose ticks Beam's Flink runner emits
         # only when the sources shut down, and in some runs not at all (docs/RUNNERS.md).
         "flink-periodic-impulse": ("flink-job-server", "flink-dist"),
         # Submission paths to the standalone cluster: a staging folder the TaskManager
         # does not see, a shared one, and the uber jar (which needs one job server jar);
         # the SDK container's entry point (boot) is what fetches the staged artifacts.
         "flink-submission": ("flink-job-server", "flink-job-server-jar", "flink-dist",
                              "python-boot"),
         # The crashes under checkpointing on the standalone cluster (minutes each).
         "flink-faults": ("flink-job-server", "flink-dist"),
         "spark": ("spark-job-server",),
         # tests/runners/test_java_pipeline.py: java/ (Beam Java 2.62.0) built with Maven into
         # .engines/m2, where the Flink job server's fetch put that Beam Java's Flink runner.
         "java": ("flink-job-server",)}

if FLINK_MINOR not in FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS:
    raise RuntimeError("Beam %s publishes no Flink runner for Flink %s (it does for %s)"
                       % (BEAM_VERSION, FLINK_MINOR, FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS))


@dataclasses.dataclass
class Outcome:
    """One engine's fetch: where it is, or why it is not."""

    artifact: str
    path: Optional[str] = None
    error: Optional[str] = None
    seconds: float = 0.0
    cached: bool = False
    # For a job server: how it is started (the java arguments) and why that way.
    command: Optional[List[str]] = None
    note: Optional[str] = None


def prism_path() -> str:
    return os.path.join(ENGINES, "prism", "v" + BEAM_VERSION, "prism")


def jar_path(coordinate: str) -> str:
    _, artifact, version = coordinate.split(":")
    return os.path.join(ENGINES, "jars", "%s-%s.jar" % (artifact, version))


def flink_home() -> str:
    return os.path.join(ENGINES, "flink-%s" % FLINK_DIST_VERSION)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _run(command: List[str], env: Optional[Dict[str, str]] = None, timeout: float = 1500
         ) -> subprocess.CompletedProcess:
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env, timeout=timeout, check=False)


def _go_install(module: str, path: str) -> Outcome:
    """``go install module@v<Beam>`` into ``path``'s folder, with every Go folder (module
    cache, build cache) under ``.engines/go``."""
    outcome = Outcome("%s@v%s" % (module, BEAM_VERSION), path=path)
    if os.path.isfile(outcome.path):
        outcome.cached = True
        return outcome
    go = shutil.which("go") or shutil.which("go", path="/usr/local/go/bin")
    if go is None:
        outcome.error = "no `go` on PATH or in /usr/local/go/bin: %s is built from its Go module" % (
            module.rsplit("/", 1)[-1])
        outcome.path = None
        return outcome
    folder = os.path.join(ENGINES, "go")
    env = dict(os.environ, GOPATH=folder, GOMODCACHE=os.path.join(folder, "mod"),
               GOCACHE=os.path.join(folder, "cache"), GOBIN=os.path.dirname(outcome.path),
               GOFLAGS="-modcacherw", GOTOOLCHAIN="local", CGO_ENABLED="0")
    done = _run([go, "install", outcome.artifact], env=env)
    if done.returncode != 0 or not os.path.isfile(outcome.path):
        outcome.error = "go install exited %s:\n%s" % (done.returncode, _tail(done.stdout))
        outcome.path = None
    return outcome


def fetch_prism() -> Outcome:
    """Beam's Prism at the installed Beam version (:func:`_go_install`)."""
    return _go_install(PRISM_MODULE, prism_path())


def python_boot_path() -> str:
    return os.path.join(ENGINES, "python-boot", "v" + BEAM_VERSION, "container")


def fetch_python_boot() -> Outcome:
    """The Python SDK container's entry point (``/opt/apache/beam/boot`` in Beam's SDK
    image) at the installed Beam version (:func:`_go_install`): what a worker pool started
    with ``--worker_pool`` runs for each worker. Unlike a bare ``worker_pool_main``, it
    fetches the job's staged artifacts from the TaskManager before starting the worker."""
    return _go_install(PYTHON_BOOT_MODULE, python_boot_path())


def fetch_jar(coordinate: str) -> Outcome:
    """``mvn dependency:copy`` of one jar into ``.engines/jars`` (the local repository in
    ``.engines/m2``)."""
    outcome = Outcome(coordinate, path=jar_path(coordinate))
    if os.path.isfile(outcome.path):
        outcome.cached = True
        return outcome
    mvn = shutil.which("mvn")
    if mvn is None:
        outcome.error = "no `mvn` on PATH"
        outcome.path = None
        return outcome
    done = _run([mvn, "-B", "-q", "-U", "-Dstyle.color=never", "-Dmaven.repo.local=%s" % os.path.join(ENGINES, "m2"),
                 "dependency:copy", "-Dartifact=%s" % coordinate,
                 "-DoutputDirectory=%s" % os.path.dirname(outcome.path)])
    if done.returncode != 0 or not os.path.isfile(outcome.path):
        outcome.error = _mvn_failure("mvn dependency:copy", done)
        outcome.path = None
    return outcome


def classpath_path(name: str = "flink-job-server") -> str:
    return os.path.join(ENGINES, "%s-%s.classpath" % (name, ASSEMBLED_BEAM_JAVA))


def stale_entries(classpath: str) -> List[str]:
    """The entries of a classpath that do not exist (a cached file written before the
    engines folder or its Maven repository moved)."""
    return [entry for entry in classpath.split(os.pathsep) if not os.path.exists(entry)]


def _mvn_failure(what: str, done: subprocess.CompletedProcess) -> str:
    """``what`` exited N, and Maven's first ``[ERROR]`` line (its answer), else its tail."""
    text = _ANSI.sub("", done.stdout)
    answer = [line for line in text.splitlines() if line.startswith("[ERROR]")][:1]
    return "%s exited %s: %s" % (what, done.returncode, answer[0] if answer else _tail(text, 4))


def _maven(pom: str, properties: Dict[str, str], goals: List[str]) -> List[str]:
    return (["mvn", "-B", "-q", "-Dstyle.color=never", "-f", pom,
             "-Dmaven.repo.local=%s" % os.path.join(ENGINES, "m2")]
            + ["-D%s=%s" % item for item in sorted(properties.items())] + goals)


def assemble_job_server(name: str, shaded: str, runner: str, pom: str, driver: str,
                        java_flags: List[str], properties: Dict[str, str]) -> Outcome:
    """Beam's shaded job server jar ``shaded`` if Maven Central serves it; otherwise
    ``runner`` and its dependencies (``pom``), resolved with Maven into ``.engines/m2`` and
    started as ``driver`` from the classpath ``dependency:build-classpath`` writes. A
    cached classpath is used only if every entry in it exists; otherwise it is rebuilt."""
    jar = fetch_jar(shaded)
    if not jar.error:
        jar.command = ["-jar", jar.path]
        jar.note = "the job server jar at the installed Beam version"
        return jar
    outcome = Outcome(runner, path=classpath_path(name))
    outcome.note = "assembled from %s and its dependencies, because %s: %s" % (
        runner, shaded, jar.error)
    classpath = None
    if os.path.isfile(outcome.path):
        with open(outcome.path) as handle:
            classpath = handle.read().strip()
        stale = stale_entries(classpath)
        if stale:
            outcome.note += "; the cached classpath named %d missing files (first: %s), rebuilt" % (
                len(stale), stale[0])
            classpath = None
    if classpath is None:
        done = _run(_maven(pom, properties, ["dependency:build-classpath",
                                             "-Dmdep.outputFile=%s" % outcome.path]))
        if done.returncode != 0 or not os.path.isfile(outcome.path):
            outcome.error = _mvn_failure("mvn dependency:build-classpath", done)
            outcome.path = None
            return outcome
        with open(outcome.path) as handle:
            classpath = handle.read().strip()
        stale = stale_entries(classpath)
        if stale:
            outcome.error = "mvn dependency:build-classpath wrote %d missing files (first: %s)" % (
                len(stale), stale[0])
            outcome.path = None
            return outcome
    else:
        outcome.cached = True
    outcome.command = java_flags + ["-cp", classpath, driver]
    return outcome


def fetch_flink_job_server() -> Outcome:
    """The Flink job server: :func:`assemble_job_server` of ``FLINK_RUNNER``."""
    return assemble_job_server(
        "flink-job-server", FLINK_JOB_SERVER, FLINK_RUNNER, JOB_SERVER_POM, FLINK_DRIVER,
        JAVA_OPENS, {"beam.version": ASSEMBLED_BEAM_JAVA, "flink.minor": FLINK_MINOR})


def fetch_spark_job_server() -> Outcome:
    """The Spark job server: :func:`assemble_job_server` of ``SPARK_RUNNER`` with Spark
    ``SPARK_VERSION``."""
    return assemble_job_server(
        "spark-job-server", SPARK_JOB_SERVER, SPARK_RUNNER, SPARK_JOB_SERVER_POM, SPARK_DRIVER,
        SPARK_OPENS, {"beam.version": ASSEMBLED_BEAM_JAVA, "spark.version": SPARK_VERSION})


def flink_job_server_jar_path() -> str:
    return os.path.join(ENGINES, "jars", "flink-job-server-%s-shaded.jar" % ASSEMBLED_BEAM_JAVA)


def fetch_flink_job_server_jar() -> Outcome:
    """One Flink job server jar, which Python's FlinkRunner needs for
    ``--flink_submit_uber_jar`` (it adds the pipeline and its artifacts to a copy and
    uploads that to the JobManager): Beam's shaded jar if served, else the assembled
    classpath shaded into one jar by maven-shade-plugin (``JOB_SERVER_POM``'s
    ``job-server-jar`` profile; META-INF/services merged)."""
    jar = fetch_jar(FLINK_JOB_SERVER)
    if not jar.error:
        jar.note = "the job server jar at the installed Beam version"
        return jar
    outcome = Outcome("%s, shaded" % FLINK_RUNNER, path=flink_job_server_jar_path())
    outcome.note = "shaded from the assembled classpath, because %s: %s" % (
        FLINK_JOB_SERVER, jar.error)
    if os.path.isfile(outcome.path):
        outcome.cached = True
        return outcome
    build = tempfile.mkdtemp(dir=ENGINES, prefix="shade-")
    try:
        name = os.path.basename(outcome.path)[:-len(".jar")]
        done = _run(_maven(JOB_SERVER_POM, {
            "beam.version": ASSEMBLED_BEAM_JAVA, "flink.minor": FLINK_MINOR,
            "engines.build": build, "job.server.jar": name}, ["-Pjob-server-jar", "package"]))
        built = os.path.join(build, name + ".jar")
        if done.returncode != 0 or not os.path.isfile(built):
            outcome.error = _mvn_failure("mvn -Pjob-server-jar package", done)
            outcome.path = None
            return outcome
        os.makedirs(os.path.dirname(outcome.path), exist_ok=True)
        os.replace(built, outcome.path)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return outcome


def _status_entry(name: str) -> Dict[str, object]:
    with open(STATUS_FILE) as handle:
        return json.load(handle)["engines"][name]


def job_server_command(name: str) -> List[str]:
    """The ``java`` command line (without the driver's flags) of a fetched job server."""
    return ["java"] + _status_entry(name)["command"]


def fetched_path(name: str) -> str:
    """Where ``make engines`` put the engine ``name`` (its status entry's path)."""
    return _status_entry(name)["path"]


def fetch_flink_dist() -> Outcome:
    """Flink's distribution (lib/, opt/, plugins/) from PyPI's apache-flink-libraries,
    downloaded with pip and unpacked into ``.engines/flink-<version>``."""
    outcome = Outcome(FLINK_DIST, path=flink_home())
    dist_jar = os.path.join(outcome.path, "lib", "flink-dist-%s.jar" % FLINK_DIST_VERSION)
    if os.path.isfile(dist_jar):
        outcome.cached = True
        return outcome
    downloads = os.path.join(ENGINES, "downloads")
    done = _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                 "--no-binary", ":all:", "-d", downloads, FLINK_DIST])
    # The sdist is named with underscores since 1.20, with hyphens before.
    names = ["%s-%s" % (stem, FLINK_DIST_VERSION)
             for stem in ("apache_flink_libraries", "apache-flink-libraries")]
    archives = [os.path.join(downloads, name + ".tar.gz") for name in names]
    found = [(name, archive) for name, archive in zip(names, archives) if os.path.isfile(archive)]
    if done.returncode != 0 or not found:
        outcome.error = "pip download exited %s, no %s:\n%s" % (
            done.returncode, " or ".join(archives), _tail(done.stdout))
        outcome.path = None
        return outcome
    name, archive = found[0]
    prefix = "%s/deps/" % name
    staging = tempfile.mkdtemp(dir=ENGINES, prefix="flink-unpack-")
    try:
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
            tar.extractall(staging, members=members, filter="data")
        shutil.rmtree(outcome.path, ignore_errors=True)
        os.rename(os.path.join(staging, prefix), outcome.path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not os.path.isfile(dist_jar):
        outcome.error = "%s has no lib/flink-dist-%s.jar" % (archive, FLINK_DIST_VERSION)
        outcome.path = None
    return outcome


def fetch_all() -> Dict[str, Outcome]:
    """Fetches every engine (each independently), writes and returns the status."""
    os.makedirs(ENGINES, exist_ok=True)
    steps = {"prism": fetch_prism,
             "python-boot": fetch_python_boot,
             "flink-job-server": fetch_flink_job_server,
             "flink-job-server-jar": fetch_flink_job_server_jar,
             "flink-dist": fetch_flink_dist,
             "spark-job-server": fetch_spark_job_server}
    outcomes = {}
    for name, step in steps.items():
        started = time.monotonic()
        try:
            outcomes[name] = step()
        except (OSError, subprocess.SubprocessError, tarfile.TarError) as error:
            outcomes[name] = Outcome(name, error="%s: %s" % (type(error).__name__, error))
        outcomes[name].seconds = round(time.monotonic() - started, 1)
    with open(STATUS_FILE, "w") as handle:
        json.dump({"beam_version": BEAM_VERSION,
                   "engines": {n: dataclasses.asdict(o) for n, o in outcomes.items()}},
                  handle, indent=2)
    return outcomes


def skipped_engines() -> List[str]:
    """The test engines ``BEAM_BATCHPUT_SKIP_ENGINES`` opts out of (``1``/``all``: all)."""
    value = os.environ.get(SKIP_VARIABLE, "").strip()
    if value.lower() in ("1", "all", "true", "yes"):
        return list(NEEDS)
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = sorted(set(names) - set(NEEDS))
    if unknown:
        raise ValueError("%s names unknown engines %s; known: %s"
                         % (SKIP_VARIABLE, unknown, ", ".join(NEEDS)))
    return names


def missing(engine: str) -> Optional[str]:
    """Why the test engine cannot run here (None: everything it needs was fetched)."""
    if not os.path.isfile(STATUS_FILE):
        return "%s does not exist: run `make engines` first" % STATUS_FILE
    with open(STATUS_FILE) as handle:
        status = json.load(handle)
    if status.get("beam_version") != BEAM_VERSION:
        return "%s was written for Beam %s, this is Beam %s: run `make engines`" % (
            STATUS_FILE, status.get("beam_version"), BEAM_VERSION)
    reasons = []
    for name in NEEDS[engine]:
        entry = status["engines"].get(name) or {}
        if entry.get("error") or not entry.get("path") or not os.path.exists(entry["path"]):
            reasons.append("%s (%s): %s" % (name, entry.get("artifact"),
                                            entry.get("error") or "not fetched"))
            continue
        command = entry.get("command") or []
        stale = stale_entries(command[command.index("-cp") + 1]) if "-cp" in command else []
        if stale:
            reasons.append("%s (%s): its classpath names %d missing files (first: %s): "
                           "run `make engines`" % (name, entry.get("artifact"), len(stale),
                                                   stale[0]))
    return "; ".join(reasons) or None


def main() -> int:
    outcomes = fetch_all()
    for name, outcome in outcomes.items():
        if outcome.error:
            print("engines: %-16s FAILED %s (%.1f s)\n    %s" % (
                name, outcome.artifact, outcome.seconds, outcome.error.replace("\n", "\n    ")))
        else:
            print("engines: %-16s %s %s (%.1f s)" % (
                name, "cached" if outcome.cached else "fetched", outcome.path, outcome.seconds))
    print("engines: status in %s" % STATUS_FILE)
    failed = [n for n, o in outcomes.items() if o.error]
    return 1 if failed and os.environ.get("BEAM_BATCHPUT_ENGINES_STRICT") == "1" else 0


if __name__ == "__main__":
    sys.exit(main())
