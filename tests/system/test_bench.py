"""`hotline bench` runs as the README says and its --json document has the promised figures.

A tiny run (its numbers are not looked at: speed is measured by the benchmark, never by a test).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tools.bench.callflow import memory_trend

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = (
    "calls_per_s",
    "webhooks_per_s",
    "p50_ms",
    "p99_ms",
    "errors",
    "ceiling_webhooks_per_s",
    "ratio",
    "durable_ceiling_webhooks_per_s",
    "durable_ratio",
    "database",
    "routes",
    "memory",
    "classifier_us_per_utterance",
    "classifier_ms_per_webhook",
)


def test_a_small_benchmark_run_prints_every_figure(backend: str) -> None:
    args = ["--database", backend, "--calls", "12", "--concurrency", "3"]
    args += ["--ceiling-requests", "40", "--json"]
    if backend == "postgresql":
        args += ["--database-url", os.environ["TEST_DATABASE_URL"]]
    run = subprocess.run(  # noqa: S603
        [sys.executable, "-c", "import app; app.main()", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert all(key in result for key in TOP_LEVEL), sorted(result)
    assert result["database"] == backend
    assert (result["calls"], result["errors"]) == (12, 0)
    assert {"/voice/incoming", "/voice/ivr/gather", "/voice/status"} <= set(result["routes"])
    assert {"/voice/cases/recorded", "/voice/route/accept"} <= set(result["routes"]), (
        "service requests were recorded and emergencies bridged"
    )
    assert result["classifier_us_per_utterance"] > 0
    assert result["ratio"] > 0
    assert result["durable_ratio"] > 0, "the durable ceiling answered and was measured"
    assert (result["ceiling_errors"], result["durable_ceiling_errors"]) == (0, 0), (
        "both ceilings answered every webhook (their workers create the durable table in turn)"
    )
    assert any(name.startswith("worker:") for name in result["memory"])


def test_the_soak_tells_warm_up_from_growth() -> None:
    def series(kib_at: Callable[[float], float]) -> list[dict[str, Any]]:
        return [{"t_s": t, "rss_kib_total": round(kib_at(t))} for t in range(0, 600, 10)]

    # Caches filling in the first minute, then flat: no growth after warm-up, no slope.
    warm = memory_trend(series(lambda t: 400_000 + min(t, 60) * 20), 600)
    assert warm["rss_growth_kib"] == 700  # from the first minute's mean, warm-up included
    assert warm["rss_growth_after_warmup_kib"] == 0
    assert warm["rss_slope_second_half_kib_per_min"] == 0
    # A leak of 50 KiB a minute keeps its slope.
    leak = memory_trend(series(lambda t: 400_000 + t * 50 / 60), 600)
    assert leak["rss_slope_second_half_kib_per_min"] == 50
    assert leak["rss_growth_after_warmup_kib"] == 400
