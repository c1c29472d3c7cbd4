"""The benchmark runs end to end on a tiny corpus and writes complete JSON (no timings asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


# The benchmark starts its own Prefect server and SeaweedFS and builds several times (minutes).
@pytest.mark.prefect
@pytest.mark.s3
@pytest.mark.slow
def test_benchmark_smoke_run_writes_every_measurement(tmp_path):
    out, page = tmp_path / "bench.json", tmp_path / "performance-figures.md"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--n", "6", "--poll-n", "8",
                           "--profiles", "standard,plain", "--rounds", "2", "--json", str(out), "--figures", str(page)],
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text(encoding="utf-8"))
    assert set(result["profiles"]) == {"standard", "plain"}
    for profile in result["profiles"].values():
        for key in ("baseline", "cold", "nothing_changed", "nothing_changed_flow", "one_changed", "baseline3", "cold3"):
            assert profile[key]["seconds"] > 0 and profile[key]["peak_rss_mb"] > 0, key
        # With the stack's warm process, as a coordinator's commands run; and the command alone.
        assert profile["cold"]["warm"] and profile["one_changed"]["warm"], profile["cold"]
        assert profile["cold_alone"]["warm"] is False and profile["one_changed_alone"]["seconds"] > 0
        assert set(profile["stages"]["stages"]) == {"screening", "conversion", "personal data", "review", "merge",
                                                    "render", "language page", "tracker, changes, pages"}
        # After one more file changed: the same stages, and that file converted again.
        assert set(profile["stages_one_changed"]["stages"]) == set(profile["stages"]["stages"])
        assert profile["stages_one_changed"]["stages"]["conversion"] > 0
        # Two alternating rounds: two baseline/cold pairs and two builds after a change, each
        # with a flow run with nothing changed.
        assert len(profile["pairs"]) == len(profile["changes"]) == 2
        assert all(p["baseline"] > 0 and p["cold"] > 0 for p in profile["pairs"])
        assert all(c["one_changed"] > 0 and c["nothing_changed_flow"] > 0 for c in profile["changes"])
    for key in ("cold_temporary_server", "poll_idle_local", "poll_idle_s3"):
        assert result[key]["seconds"] > 0 and result[key]["peak_rss_mb"] > 0, key
    assert len(result["prefect"]["flow"]) == len(result["prefect"]["direct"]) == len(result["prefect"]["worker"]) == 2
    assert set(result["review"]["results"]) == {"engine", "pipeline-1", "pipeline", "server"}
    per_profile = {f"{k}[{p}]" for k in ("cold_vs_baseline", "cold3_vs_baseline3", "one_changed_extra_vs_cold",
                                         "nothing_changed_vs_cold", "stack_nothing_changed_s", "stack_one_changed_s",
                                         "peak_docx_mb",
                                         "peak_three_formats_mb")
                   for p in ("standard", "plain")}
    assert set(result["targets"]) == per_profile | {"idle_poll_local_flow_s", "idle_poll_s3_flow_s",
                                                    "prefect_overhead", "peak_rss_mb", "review_vs_engine",
                                                    "review_words_per_second"}
    assert result["machine"]["cpus"] >= 1 and len(result["machine"]["load_before"]) == 3
    assert "utkast build, cold" in done.stdout and "x baseline" in done.stdout and "conversion" in done.stdout
    assert "cold / baseline, 2 alternating pairs (the target: their median)" in page.read_text(encoding="utf-8")
    assert "peak RSS, cold build: docx / docx, pdf and html" in done.stdout
    # The documentation's figures page: the same table and every target, met or missed.
    figures = page.read_text(encoding="utf-8")
    assert figures.startswith("# Performance figures\n") and "| utkast build, cold | " in figures
    assert "| 1 file changed, by stage (plain functions, one process): | " in figures
    assert "| utkast build, cold, without the warm process | " in figures
    assert "| the flow with its heartbeat thread, as a worker runs it (median) | " in figures
    for key, target in result["targets"].items():
        assert f"| `{key}` {target['target']} | {target['measured']} | " in figures, key


def test_a_target_is_checked_on_the_value_as_measured_not_as_rounded():
    """The N = 1,500 run of 2026-12-08: one change 2.636 s, a flow run with nothing changed
    0.758 s, cold 37.269 s, so 0.0504 x cold. Rounded to three decimals first, it passed for
    0.05 and the page said met."""
    from scripts.bench import score

    run = {"cold": {"seconds": 37.269, "peak_rss_mb": 417.2}, "nothing_changed": {"seconds": 0.175},
           "nothing_changed_flow": {"seconds": 0.758}, "one_changed": {"seconds": 2.636},
           "baseline": {"seconds": 177.5}}
    results = {"profiles": {"plain": run}, "prefect": {"flow": [43.683], "direct": [34.283]}}
    score(results)
    assert results["ratios"]["profiles"]["plain"]["one_changed_extra_vs_cold"] == 0.05  # the JSON's figure
    assert results["targets"]["one_changed_extra_vs_cold[plain]"] == {"target": "<= 0.05", "measured": 0.0504,
                                                                      "met": False}
    assert results["targets"]["cold_vs_baseline[plain]"] == {"target": "<= 0.6", "measured": 0.21, "met": True}
    assert results["targets"]["prefect_overhead"]["met"] is False


def test_the_targets_take_the_median_of_the_alternating_pairs():
    """One baseline/cold pair moves by about 8 %: with three rounds, the first pair's 0.600
    would meet the goal and the median of 0.600, 0.657 and 0.629 does not."""
    from scripts.bench import score

    pairs = [{"baseline": 7.0, "cold": 4.2}, {"baseline": 7.0, "cold": 4.6}, {"baseline": 7.0, "cold": 4.4}]
    changes = [{"one_changed": 1.0, "nothing_changed_flow": 0.5}, {"one_changed": 0.9, "nothing_changed_flow": 0.5},
               {"one_changed": 1.2, "nothing_changed_flow": 0.5}]
    run = {"cold": {"seconds": 4.2, "peak_rss_mb": 245.0}, "nothing_changed": {"seconds": 0.1},
           "nothing_changed_flow": {"seconds": 0.5}, "one_changed": {"seconds": 1.0}, "baseline": {"seconds": 7.0},
           "pairs": pairs, "changes": changes}
    results = {"profiles": {"light": run}, "prefect": {"flow": [5.0], "direct": [4.5]}}
    score(results)
    assert results["targets"]["cold_vs_baseline[light]"] == {"target": "<= 0.6", "measured": 0.629, "met": False}
    # The median of 0.5, 0.4 and 0.7 s over the median cold build, 4.4 s.
    assert results["targets"]["one_changed_extra_vs_cold[light]"]["measured"] == 0.114
