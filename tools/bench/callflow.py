"""`hotline bench`: whole simulated calls against the hotline served as in production.

Starts the app under gunicorn (several sync workers; PostgreSQL by default, SQLite as an option)
with the demo roster, and drives whole calls concurrently with the `hotline call` softphone:
distinct CallSids, every request signed as Twilio signs it, and the real sequence of webhooks a
call produces — the incoming call and its Gather actions; for an emergency the bridge's
whisper, the officer's key press, the Dial action and the status callback; for a service request
the recording's action, its status callback and the call's. A `--mix` share of the calls are
emergencies. In the same run it measures two ceilings (`tools/bench/ceiling.py`): a bare Flask app
on the same gunicorn settings that only validates the signature and answers the greeting, and a
durable one that also writes one row per webhook and commits, with the plain driver.

Reports calls/s, webhooks/s, latency p50/p90/p99/max per route and over all webhooks, errors,
and each server process's peak memory; `--json` prints the same as one JSON document.

Modes: closed loop (`--calls N --concurrency C`: as fast as it goes), fixed rate
(`--rate N --duration S`: N calls started per second, for latency at a given load), and soak
(`--soak MINUTES` at `--rate`: memory of every server process sampled over time).

The client runs on the same machine and competes with the server for its cores; figures from
one run compare with each other (the ratio), not with another machine's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click
from twilio.request_validator import RequestValidator

from tools.databases import scratch_database
from tools.softphone import HttpResult, HttpTransport, Softphone

ROOT = Path(__file__).resolve().parents[2]  # tools/bench/ -> the repository
TOKEN = "bench-auth-token-0123456789abcdef"
ACCOUNT = "AC" + "0" * 32
HOTLINE = "+865996110110"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


# ------------------------------------------------------------------------------ measurements


@dataclasses.dataclass
class Recorder:
    """Every webhook's latency by route, and the errors, from all client threads."""

    samples: dict[str, list[float]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = dataclasses.field(default_factory=lambda: defaultdict(int))
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def add(self, route: str, ms: float, ok: bool) -> None:
        with self.lock:
            self.samples[route].append(ms)
            if not ok:
                self.errors[route] += 1

    @property
    def webhooks(self) -> int:
        return sum(len(v) for v in self.samples.values())

    def all_samples(self) -> list[float]:
        return [ms for values in self.samples.values() for ms in values]


def quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "p50_ms": at(0.5),
        "p90_ms": at(0.9),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1], 2),
    }


class TimedTransport(HttpTransport):
    """The softphone's HTTP transport, timing each webhook by route (the path without query)."""

    def __init__(self, base_url: str, recorder: Recorder) -> None:
        super().__init__(base_url, timeout=30)
        self.recorder = recorder

    def post(self, path: str, params: Mapping[str, str], headers: Mapping[str, str]) -> HttpResult:
        route = path.split("?", 1)[0]
        started = time.perf_counter()
        try:
            result = super().post(path, params, headers)
        except OSError:
            self.recorder.add(route, (time.perf_counter() - started) * 1000, False)
            raise
        elapsed = (time.perf_counter() - started) * 1000
        self.recorder.add(route, elapsed, 200 <= result.status < 300)
        return result


# ---------------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclasses.dataclass
class Server:
    name: str
    base: str
    process: subprocess.Popen[bytes]

    def worker_pids(self) -> list[int]:
        """The gunicorn master and its workers."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            pids = [int(p) for p in children.read_text().split()]
        except OSError:
            pids = []
        return [self.process.pid, *pids]

    def cpu_seconds(self) -> float:
        """User + system CPU of the master and its workers so far (PostgreSQL's not included)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in self.worker_pids():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / ticks
        return total

    def memory(self) -> dict[str, dict[str, int]]:
        """RSS now and peak (VmHWM), in KiB, per process."""
        result = {}
        for pid in self.worker_pids():
            fields = {}
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    key, _, value = line.partition(":")
                    if key in ("VmRSS", "VmHWM"):
                        fields[key] = int(value.split()[0])
            if fields:
                role = "master" if pid == self.process.pid else "worker"
                result[f"{role}:{pid}"] = {
                    "rss_kib": fields.get("VmRSS", 0),
                    "peak_kib": fields.get("VmHWM", 0),
                }
        return result


def postgres_cpu_seconds() -> float | None:
    """User + system CPU of every PostgreSQL process on this machine so far (None if unreadable).

    Only meaningful when PostgreSQL runs here and nothing else uses it during the run; the bench
    reports it per webhook beside the server's and the client's own CPU.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total, seen = 0.0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            head, _, rest = stat.read_text().rpartition(")")
            if head.split("(", 1)[1].startswith("postgres"):
                fields = rest.split()
                total += (int(fields[11]) + int(fields[12])) / ticks
                seen = True
    return total if seen else None


def own_cpu_seconds() -> float:
    """CPU of this process (the client: every simulated call runs in its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def gunicorn(name: str, app_spec: str, env: dict[str, str], workers: int, port: int) -> Server:
    """Serve `app_spec` with `workers` sync workers, as production does."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--backlog",
            "2048",
            "--log-level",
            "warning",
            app_spec,
        ],
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                return Server(name, base, process)
        except urllib.error.HTTPError:
            return Server(name, base, process)  # the ceiling app has no /healthz: it answers 404
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"{name}: gunicorn exited with {process.returncode}") from None
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{name}: the server did not start")


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(15)
    except subprocess.TimeoutExpired:
        server.process.kill()


@contextlib.contextmanager
def served(name: str, app_spec: str, env: dict[str, str], workers: int) -> Iterator[Server]:
    """`app_spec` under gunicorn on a free port, with that port's URL as its PUBLIC_BASE_URL
    (the URL its webhooks are signed for); stopped afterwards."""
    port = free_port()
    server = gunicorn(
        name, app_spec, {**env, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}, workers, port
    )
    try:
        yield server
    finally:
        stop(server)


@contextlib.contextmanager
def servers(
    database: str, database_url: str | None, workers: int, redis_url: str | None
) -> Iterator[tuple[Server, Server, Server]]:
    """The hotline (migrated, demo roster), the bare ceiling and the durable ceiling (one row
    written and committed per webhook, in the same database), on free ports."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        pg = (database_url or DEFAULT_PG) if database == "postgresql" else None
        with scratch_database(directory, pg) as url:
            env = {
                **os.environ,
                "HOTLINE_ENV": "test",
                "DATABASE_URL": url,
                "TWILIO_AUTH_TOKEN": TOKEN,
                "TWILIO_ACCOUNT_SID": ACCOUNT,
                "SPOOL_DIR": str(directory / "spool"),
                "RECORDINGS_DIR": str(directory / "recordings"),
                "TWILIO_API_BASE_URL": "http://127.0.0.1:9",  # nothing leaves this machine
                "LOG_LEVEL": "WARNING",
            }
            if redis_url:
                env["REDIS_URL"] = redis_url  # the job queue, as in production
            hotline = [sys.executable, "-c", "import app; app.main()"]
            for args in (
                ["db", "upgrade"],
                ["roster", "import", str(ROOT / "config" / "roster.yaml")],
            ):
                subprocess.run(
                    [*hotline, *args], env=env, cwd=ROOT, check=True, capture_output=True
                )
            try:
                with contextlib.ExitStack() as running:
                    ours = running.enter_context(
                        served("hotline", "app:create_app()", env, workers)
                    )
                    ceiling = running.enter_context(
                        served("ceiling", "tools.bench.ceiling:create_app()", env, workers)
                    )
                    durable = running.enter_context(
                        served(
                            "durable ceiling",
                            "tools.bench.ceiling:create_durable_app()",
                            env,
                            workers,
                        )
                    )
                    yield ours, ceiling, durable
            finally:
                if redis_url:  # no worker ran: drop the jobs the bench's calls queued
                    from huey import RedisHuey

                    RedisHuey("hotline", url=redis_url).flush()


# ------------------------------------------------------------------------------------ calls


#: Half the emergencies press 1, half say what happened (the classifier hears them); every
#: service request is said, then recorded (the classifier places it in its category).
EMERGENCY_INPUTS = (["1"], ["say:我家厨房着火了，烟很大，快来人"])
SERVICE_INPUTS = ["say:人民路和中山路路口的路灯坏了，晚上一片漆黑", "路灯已经坏了三天了"]
#: What the bench's callers say at the front door, for the classifier's own cost.
UTTERANCES = ("我家厨房着火了，烟很大，快来人", "人民路和中山路路口的路灯坏了，晚上一片漆黑")


def caller_inputs(emergency: bool, n: int) -> list[str]:
    """Call n's scripted inputs (emergencies alternate between the key and speech)."""
    return list(EMERGENCY_INPUTS[n % 2] if emergency else SERVICE_INPUTS)


def classifier_cost(rules_file: Path, repeats: int = 2000) -> dict[str, Any]:
    """The classifier's CPU per utterance the bench's callers say: median of `repeats` timings
    each, in this process (the gather webhook runs the same function on the same rules)."""
    from ivr.classifier import classify, load_rules

    rules = load_rules(rules_file)
    timings: list[float] = []
    for text in UTTERANCES:
        for _ in range(repeats):
            started = time.process_time_ns()
            classify(text, rules)
            timings.append((time.process_time_ns() - started) / 1000)
    return {
        "classifier_us_per_utterance": round(statistics.median(timings), 1),
        "classifier_utterances": len(UTTERANCES),
    }


def one_call(base: str, recorder: Recorder, emergency: bool, n: int) -> bool:
    """One whole call; True when every webhook answered 2xx and the call ended normally."""
    phone = Softphone(
        transport=TimedTransport(base, recorder),
        public_base_url=base,
        auth_token=TOKEN,
        account_sid=ACCOUNT,
        from_number=f"+86138{n % 100_000_000:08d}",
        to_number=HOTLINE,
        inputs=caller_inputs(emergency, n),
        output_func=lambda _line: None,
    )
    return phone.run().exit_code == 0


def is_emergency(n: int, mix: float) -> bool:
    """A deterministic mix: call n is an emergency for a `mix` share of the calls."""
    return int((n + 1) * mix) > int(n * mix)


def closed_loop(base: str, calls: int, concurrency: int, mix: float) -> dict[str, Any]:
    recorder = Recorder()
    failed = 0
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = pool.map(
            lambda n: one_call(base, recorder, is_emergency(n, mix), n), range(calls)
        )
        failed = sum(1 for ok in results if not ok)
    wall = time.perf_counter() - started
    return summary(recorder, calls, failed, wall)


def fixed_rate(
    base: str,
    rate: float,
    duration: float,
    mix: float,
    *,
    on_tick: Any = None,
) -> dict[str, Any]:
    """`rate` calls started per second for `duration` seconds (a late start is counted)."""
    recorder = Recorder()
    total = int(rate * duration)
    outcomes: list[Any] = []
    late = 0
    with ThreadPoolExecutor(max(8, int(rate * 4))) as pool:
        started = time.perf_counter()
        for n in range(total):
            due = started + n / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            elif wait < -0.05:
                late += 1
            outcomes.append(pool.submit(one_call, base, recorder, is_emergency(n, mix), n))
            if on_tick is not None:
                on_tick(time.perf_counter() - started)
        failed = sum(1 for f in outcomes if not f.result())
        wall = time.perf_counter() - started
    result = summary(recorder, total, failed, wall)
    result["late_starts"] = late
    result["target_calls_per_s"] = rate
    return result


def ceiling_throughput(base: str, requests: int, concurrency: int) -> dict[str, Any]:
    """Signed greeting webhooks against the bare app, as fast as they go."""
    recorder = Recorder()
    validator = RequestValidator(TOKEN)

    def hit(n: int) -> None:
        params = {
            "CallSid": "CA" + uuid.uuid4().hex,
            "AccountSid": ACCOUNT,
            "From": f"+86138{n:08d}",
            "To": HOTLINE,
            "CallStatus": "ringing",
            "Direction": "inbound",
        }
        signature = validator.compute_signature(base + "/voice/incoming", params)
        TimedTransport(base, recorder).post(
            "/voice/incoming", params, {"X-Twilio-Signature": str(signature)}
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(hit, range(requests)))
    wall = time.perf_counter() - started
    return {
        "webhooks_per_s": round(recorder.webhooks / wall, 1),
        "errors": sum(recorder.errors.values()),
        **quantiles(recorder.all_samples()),
    }


def summary(recorder: Recorder, calls: int, failed: int, wall: float) -> dict[str, Any]:
    routes = {
        route: {
            "count": len(values),
            "errors": recorder.errors.get(route, 0),
            **quantiles(values),
        }
        for route, values in sorted(recorder.samples.items())
    }
    return {
        "calls": calls,
        "failed_calls": failed,
        "seconds": round(wall, 2),
        "calls_per_s": round(calls / wall, 2),
        "webhooks": recorder.webhooks,
        "webhooks_per_s": round(recorder.webhooks / wall, 1),
        **quantiles(recorder.all_samples()),
        "errors": sum(recorder.errors.values()) + failed,
        "routes": routes,
    }


# -------------------------------------------------------------------------------------- CLI


def run(options: dict[str, Any]) -> dict[str, Any]:
    """One benchmark run: the hotline's figures, the ceiling's, and the ratio."""
    database = options["database"]
    redis_url = options["redis_url"] or None
    with servers(database, options["database_url"], options["workers"], redis_url) as (
        ours,
        ceiling,
        durable,
    ):
        closed_loop(ours.base, 20, 4, options["mix"])  # warm-up: imports, connections, caches
        cpu_before, client_before, pg_before = (
            ours.cpu_seconds(),
            own_cpu_seconds(),
            postgres_cpu_seconds(),
        )
        if options["soak"]:
            result = soak(ours, options)
        elif options["rate"]:
            result = fixed_rate(ours.base, options["rate"], options["duration"], options["mix"])
        else:
            result = closed_loop(
                ours.base, options["calls"], options["concurrency"], options["mix"]
            )
        per_webhook = 1000 / max(1, result["webhooks"])
        result["server_cpu_ms_per_webhook"] = round(
            per_webhook * (ours.cpu_seconds() - cpu_before), 3
        )
        result["client_cpu_ms_per_webhook"] = round(
            per_webhook * (own_cpu_seconds() - client_before), 3
        )
        pg_after = postgres_cpu_seconds()
        result["postgresql_cpu_ms_per_webhook"] = (
            round(per_webhook * (pg_after - pg_before), 3)
            if database == "postgresql" and pg_before is not None and pg_after is not None
            else None
        )
        result["memory"] = ours.memory()
        ceiling_cpu, ceiling_client = ceiling.cpu_seconds(), own_cpu_seconds()
        top = ceiling_throughput(ceiling.base, options["ceiling_requests"], options["concurrency"])
        top_cpu = 1000 * (ceiling.cpu_seconds() - ceiling_cpu) / options["ceiling_requests"]
        top_client = 1000 * (own_cpu_seconds() - ceiling_client) / options["ceiling_requests"]
        durable_cpu, durable_pg = durable.cpu_seconds(), postgres_cpu_seconds()
        kept = ceiling_throughput(durable.base, options["ceiling_requests"], options["concurrency"])
        kept_cpu = 1000 * (durable.cpu_seconds() - durable_cpu) / options["ceiling_requests"]
        kept_pg_after = postgres_cpu_seconds()
    result["durable_ceiling_webhooks_per_s"] = kept["webhooks_per_s"]
    result["durable_ceiling_p50_ms"] = kept["p50_ms"]
    result["durable_ceiling_errors"] = kept["errors"]
    result["ceiling_errors"] = top["errors"]
    result["durable_ratio"] = round(result["webhooks_per_s"] / kept["webhooks_per_s"], 3)
    result["durable_ceiling_cpu_ms_per_webhook"] = round(kept_cpu, 3)
    result["durable_ceiling_postgresql_cpu_ms_per_webhook"] = (
        round(1000 * (kept_pg_after - durable_pg) / options["ceiling_requests"], 3)
        if database == "postgresql" and durable_pg is not None and kept_pg_after is not None
        else None
    )
    result["ceiling_webhooks_per_s"] = top["webhooks_per_s"]
    result["ceiling_p50_ms"] = top["p50_ms"]
    result["ratio"] = round(result["webhooks_per_s"] / top["webhooks_per_s"], 3)
    result["ceiling_cpu_ms_per_webhook"] = round(top_cpu, 3)
    result["ceiling_client_cpu_ms_per_webhook"] = round(top_client, 3)
    result["cpu_ratio"] = round(top_cpu / max(1e-9, result["server_cpu_ms_per_webhook"]), 3)
    result.update(classifier_cost(ROOT / "config" / "classifier.yaml"))
    said = sum(
        1 for n in range(result["calls"]) if not is_emergency(n, options["mix"]) or n % 2
    )  # every service request is said; every other emergency too (caller_inputs)
    result["classifier_ms_per_webhook"] = round(
        result["classifier_us_per_utterance"] * said / 1000 / max(1, result["webhooks"]), 4
    )
    result["database"] = database
    result["workers"] = options["workers"]
    result["mix_emergency"] = options["mix"]
    return result


def soak(server: Server, options: dict[str, Any]) -> dict[str, Any]:
    """Fixed rate for `soak` minutes; each process's RSS every 10 s."""
    samples: list[dict[str, Any]] = []
    next_sample = [0.0]

    def tick(elapsed: float) -> None:
        if elapsed >= next_sample[0]:
            memory = server.memory()
            total = sum(p["rss_kib"] for p in memory.values())
            samples.append({"t_s": round(elapsed, 1), "rss_kib_total": total})
            next_sample[0] += 10.0

    minutes = options["soak"]
    result = fixed_rate(server.base, options["rate"], minutes * 60, options["mix"], on_tick=tick)
    result["rss_samples"] = samples
    result.update(memory_trend(samples, minutes * 60))
    return result


def memory_trend(samples: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """How the servers' total RSS moved over a soak, warm-up told apart from the rest.

    The first minute is warm-up (imports finishing, pools and caches filling). Growth is the
    mean of the last minute minus the mean of the second; the slope is a least-squares line
    through the second half, in KiB a minute: a leak keeps a positive slope, a cache that filled
    up flattens it.
    """
    if not samples:
        return {}

    def mean_between(start: float, end: float) -> int:
        values = [s["rss_kib_total"] for s in samples if start <= s["t_s"] < end]
        return round(statistics.mean(values)) if values else int(samples[-1]["rss_kib_total"])

    first = mean_between(0, 60)
    second = mean_between(60, 120)
    last = mean_between(seconds - 60, seconds + 60)
    half = [s for s in samples if s["t_s"] >= seconds / 2]
    slope = None
    if len(half) >= 3:
        fit = statistics.linear_regression(
            [s["t_s"] / 60 for s in half], [s["rss_kib_total"] for s in half]
        )
        slope = round(fit.slope, 1)
    return {
        "rss_first_minute_kib": first,
        "rss_second_minute_kib": second,
        "rss_last_minute_kib": last,
        "rss_growth_kib": last - first,
        "rss_growth_after_warmup_kib": last - second,
        "rss_slope_second_half_kib_per_min": slope,
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"database {result['database']}, {result['workers']} gunicorn workers, "
        f"{int(100 * result['mix_emergency'])}% emergencies",
        f"calls        {result['calls']} in {result['seconds']} s: {result['calls_per_s']} calls/s"
        + (
            f" (target {result['target_calls_per_s']}/s, {result['late_starts']} late starts)"
            if "target_calls_per_s" in result
            else ""
        ),
        f"webhooks     {result['webhooks']}: {result['webhooks_per_s']}/s; all webhooks p50 "
        f"{result['p50_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms",
        f"errors       {result['errors']} ({result['failed_calls']} calls did not end normally)",
        f"ceiling      {result['ceiling_webhooks_per_s']} webhooks/s (bare Flask, same settings): "
        f"ratio {result['ratio']}; errors {result['ceiling_errors']} (bare), "
        f"{result['durable_ceiling_errors']} (durable)",
        f"durable      {result['durable_ceiling_webhooks_per_s']} webhooks/s (the same, one row "
        f"written and committed per webhook): ratio {result['durable_ratio']}; its server CPU "
        f"{result['durable_ceiling_cpu_ms_per_webhook']} ms, PostgreSQL "
        f"{result['durable_ceiling_postgresql_cpu_ms_per_webhook']} ms per webhook",
        f"server CPU   {result['server_cpu_ms_per_webhook']} ms per webhook (ceiling "
        f"{result['ceiling_cpu_ms_per_webhook']} ms: CPU ratio {result['cpu_ratio']})",
        f"classifier   {result['classifier_us_per_utterance']} µs per utterance said: "
        f"{result['classifier_ms_per_webhook']} ms per webhook of the mix",
        f"other CPU    PostgreSQL {result['postgresql_cpu_ms_per_webhook']} ms, client "
        f"{result['client_cpu_ms_per_webhook']} ms per webhook (ceiling's client "
        f"{result['ceiling_client_cpu_ms_per_webhook']} ms); {os.cpu_count()} cores shared by all",
        "",
        f"{'route':<28} {'count':>6} {'err':>4}"
        + "".join(f"{h:>9}" for h in ("p50 ms", "p90 ms", "p99 ms", "max ms")),
    ]
    for route, r in result["routes"].items():
        lines.append(
            f"{route:<28} {r['count']:>6} {r['errors']:>4}"
            + "".join(f"{r[k]:>9}" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms"))
        )
    lines.append("")
    lines.append(
        "memory (KiB)  "
        + ", ".join(
            f"{name} rss {m['rss_kib']} peak {m['peak_kib']}"
            for name, m in result["memory"].items()
        )
    )
    if "rss_growth_kib" in result:
        lines.append(
            f"soak         RSS of all server processes: first minute "
            f"{result['rss_first_minute_kib']} KiB, second {result['rss_second_minute_kib']} "
            f"KiB, last {result['rss_last_minute_kib']} KiB; growth after warm-up "
            f"{result['rss_growth_after_warmup_kib']} KiB, second-half slope "
            f"{result['rss_slope_second_half_kib_per_min']} KiB/min"
        )
    return "\n".join(lines)


@click.command("bench")
@click.option(
    "--database",
    type=click.Choice(["postgresql", "sqlite"]),
    default="postgresql",
    show_default=True,
)
@click.option(
    "--database-url",
    default=None,
    help=f"PostgreSQL to use (a schema of its own is made and dropped) [default: {DEFAULT_PG}]",
)
@click.option("--workers", default=4, show_default=True, help="gunicorn workers (both apps)")
@click.option(
    "--redis-url",
    default="redis://127.0.0.1:6379/15",
    show_default=True,
    help="the job queue, as in production ('' for the embedded SQLite queue)",
)
@click.option("--calls", default=600, show_default=True, help="closed loop: calls to make")
@click.option("--concurrency", default=16, show_default=True, help="closed loop: calls at once")
@click.option("--mix", default=0.3, show_default=True, help="share of emergency calls")
@click.option("--rate", type=float, default=None, help="fixed rate: calls started per second")
@click.option("--duration", type=float, default=30.0, show_default=True, help="fixed rate: seconds")
@click.option("--soak", type=float, default=None, help="soak: minutes at --rate (default rate 20)")
@click.option("--ceiling-requests", default=3000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print one JSON document")
def bench_command(**options: Any) -> None:
    """Benchmark whole simulated calls against the hotline under gunicorn (tools/bench)."""
    if options["soak"] and not options["rate"]:
        options["rate"] = 20.0
    if not 0 <= options["mix"] <= 1:
        raise click.BadParameter("a share from 0 to 1", param_hint="--mix")
    as_json = options.pop("as_json")
    result = run(options)
    click.echo(json.dumps(result, ensure_ascii=False) if as_json else render(result))
