"""The fetch's handling of a cached job server classpath (no engine, no network: Maven is
replaced by a stand-in that writes the classpath file, as ``dependency:build-classpath``
does)."""

from __future__ import annotations

import json
import subprocess

from tests.runners import engines


def _assemble():
    return engines.assemble_job_server("flink-job-server", "org.example:shaded:1",
                                       "org.example:runner:1", "pom.xml", "Main", ["-X"], {})


def _stand_in_maven(monkeypatch, tmp_path, jar):
    calls = []

    def run(command, env=None, timeout=1500):
        calls.append(command)
        (target,) = [a.split("=", 1)[1] for a in command if a.startswith("-Dmdep.outputFile=")]
        with open(target, "w") as handle:
            handle.write(str(jar) + "\n")
        return subprocess.CompletedProcess(command, 0, "")

    monkeypatch.setattr(engines, "ENGINES", str(tmp_path))
    monkeypatch.setattr(engines, "fetch_jar",
                        lambda coordinate: engines.Outcome(coordinate, error="not served"))
    monkeypatch.setattr(engines, "_run", run)
    return calls


def test_a_cached_classpath_naming_missing_jars_is_rebuilt_then_trusted(monkeypatch, tmp_path):
    jar = tmp_path / "runner.jar"
    jar.write_bytes(b"")
    calls = _stand_in_maven(monkeypatch, tmp_path, jar)
    (tmp_path / ("flink-job-server-%s.classpath" % engines.ASSEMBLED_BEAM_JAVA)).write_text(
        "/moved/m2/runner.jar:%s" % jar)

    rebuilt = _assemble()
    assert (rebuilt.error, rebuilt.cached, len(calls)) == (None, False, 1)
    assert "1 missing files (first: /moved/m2/runner.jar), rebuilt" in rebuilt.note
    assert rebuilt.command == ["-X", "-cp", str(jar), "Main"]

    cached = _assemble()
    assert (cached.error, cached.cached, len(calls)) == (None, True, 1)
    assert cached.command == rebuilt.command


def test_a_classpath_that_maven_writes_with_missing_jars_is_an_error(monkeypatch, tmp_path):
    _stand_in_maven(monkeypatch, tmp_path, tmp_path / "never-downloaded.jar")
    outcome = _assemble()
    assert outcome.path is None
    assert "wrote 1 missing files (first: %s)" % (tmp_path / "never-downloaded.jar") in outcome.error


def test_a_recorded_command_with_missing_jars_makes_the_engine_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(engines, "ENGINES", str(tmp_path))
    monkeypatch.setattr(engines, "STATUS_FILE", str(tmp_path / "status.json"))
    classpath = tmp_path / "flink-job-server.classpath"
    classpath.write_text("")
    entry = {"artifact": "org.example:runner:1", "path": str(classpath), "error": None,
             "command": ["-cp", "/moved/m2/runner.jar", "Main"]}
    (tmp_path / "status.json").write_text(json.dumps({
        "beam_version": engines.BEAM_VERSION, "engines": {"flink-job-server": entry}}))
    reason = engines.missing("flink")
    assert "names 1 missing files (first: /moved/m2/runner.jar)" in reason
    assert "make engines" in reason
