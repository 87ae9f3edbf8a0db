"""The benchmark harness runs end to end at tiny sizes, so it cannot rot.

Its verdicts at these sizes mean nothing; the figures are checked for being
measured (real request counts, positive CPU and memory), not for their values.
"""

import json

from benchmarks import run


def test_the_quick_harness_measures_every_figure(tmp_path):
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
