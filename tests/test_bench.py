"""`hotline bench` runs as the README says and its --json document has the promised figures.

A tiny run (its numbers are not looked at: speed is measured by the benchmark, never by a test).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP_LEVEL = (
    "calls_per_s",
    "webhooks_per_s",
    "p50_ms",
    "p99_ms",
    "errors",
    "ceiling_webhooks_per_s",
    "ratio",
    "database",
    "routes",
    "memory",
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
    assert result["ratio"] > 0
    assert any(name.startswith("worker:") for name in result["memory"])
