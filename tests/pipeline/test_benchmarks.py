"""The benchmark harness runs end to end at tiny sizes, so it cannot rot.

Its verdicts at these sizes mean nothing; the figures are checked for being
measured (real request counts, positive CPU and memory), not for their values.
The sizes are smaller still than ``--quick``'s: each figure runs once, briefly.
"""

import json

from benchmarks import engines, run


def _smaller(monkeypatch):
    fill, cpu, memory = run.fill, run.cpu_overhead, run.memory
    hiding, added = run.latency_hiding, run.added_latency
    monkeypatch.setattr(run, "fill", lambda sizes: fill({s: min(n, 100) for s, n in sizes.items()}))
    monkeypatch.setattr(run, "cpu_overhead", lambda n: cpu(min(n, 500)))
    monkeypatch.setattr(run, "memory", lambda small, large: memory(1000, 2000))
    monkeypatch.setattr(run, "latency_hiding", lambda n_connector, n_naive, n_interleaved,
                        folder, in_flight: hiding(100, 10, 100, folder, in_flight=[1, 4]))
    monkeypatch.setattr(run, "added_latency", lambda duration, bound: added(1.0, 0.25))


def test_the_quick_harness_measures_every_figure(tmp_path, monkeypatch):
    _smaller(monkeypatch)
    rows = run.main(["--quick", "--output", str(tmp_path)])
    figures = {row["figure"] for row in rows}
    assert {"fill", "cpu", "memory", "retry-packing", "quota", "quota-2-workers"} <= figures
    for row in rows:
        if row["figure"] == "fill":
            assert row["requests"] >= row["lower_bound"] > 0
        if row["figure"] == "cpu":
            assert row["connector_us"] > 0 and row["hand_loop_us"] > 0
        if row["figure"] == "memory":
            assert row["rss_small_mb"] > 10 and row["rss_large_mb"] > 10
        if row["figure"] == "retry-packing":
            assert row["requests"] >= row["first_pass_bound"] > 0
        if row["figure"].startswith("quota") and "accepted_rps" in row:
            assert row["accepted_rps"] > 0 and row["unthrottled_rps"] > row["quota_rps"] > 0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["quick"] is True and len(saved["rows"]) == len(rows)


def test_the_engine_benchmark_times_a_run_from_the_emulators_request_log(capsys):
    results = engines.main(["--points", "300", "--engine", engines.DIRECT])
    assert list(results) == [engines.DIRECT]
    rate = results[engines.DIRECT]
    # 600 interleaved points need at least 6 requests of 100; the log saw them all.
    assert rate["requests"] >= 6
    assert rate["sending"] > 0 and rate["whole"] > 0 and rate["first_request"] >= 0
    assert engines.DIRECT in capsys.readouterr().out


def test_the_stub_confirms_every_connect_value_so_fill_counts_no_resends():
    # 100 values over 10 tables: one request of 10 values per table. A stub answering
    # with no Successful entries would confirm none, and the writer would resend them.
    from benchmarks import stub
    from benchmarks.workloads import workloads
    workload = next(w for w in workloads() if w.service == "connect")
    stub.reset("fill-connect-test")
    run.run_writer(workload, 100, stub.StubClientFactory("connect", "fill-connect-test"))
    assert stub.requests_sent("fill-connect-test") == workload.lower_bound(100) == 10
