"""How long from the caller's key press to the <Dial> TwiML leaving the server, under load.

Starts the app under gunicorn (several workers, the database you name) with the demo roster,
then drives concurrent simulated calls: each posts the signed incoming webhook, then the
Gather action with Digits=1, and times the second request — the emergency key press until the
bridging <Dial> is back. Prints p50/p90/p99/max and the error count.

    .venv/bin/python -m bench.dial_latency --calls 2000 --concurrency 16
    .venv/bin/python -m bench.dial_latency --database-url postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-auth-token-0123456789abcdef"
ACCOUNT = "AC" + "0" * 32


def post(base: str, path: str, params: dict[str, str]) -> tuple[int, bytes]:
    signature = RequestValidator(TOKEN).compute_signature(base + path, params)
    request = urllib.request.Request(
        base + path,
        data=urlencode(params).encode(),
        headers={"X-Twilio-Signature": signature},
    )
    with urllib.request.urlopen(request, timeout=15) as response:
        return response.status, response.read()


def one_call(base: str) -> float:
    """One emergency call; returns the key-press-to-Dial latency in milliseconds."""
    params = {
        "CallSid": "CA" + uuid.uuid4().hex,
        "AccountSid": ACCOUNT,
        "From": "+8613800138000",
        "To": "+865996110110",
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    status, _ = post(base, "/voice/incoming", params)
    if status != 200:
        raise RuntimeError(f"incoming: HTTP {status}")
    params.update(CallStatus="in-progress", Digits="1")
    started = time.perf_counter()
    status, body = post(base, "/voice/ivr/gather?step=0", params)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200 or b"<Dial" not in body:
        raise RuntimeError(f"gather: HTTP {status}, no <Dial>")
    return elapsed


def start_server(
    database_url: str, workers: int, port: int, workdir: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "SPOOL_DIR": str(workdir / "spool"),
        "LOG_LEVEL": "WARNING",
    }
    hotline = [sys.executable, "-c", "import app; app.main()"]
    subprocess.run([*hotline, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    subprocess.run(
        [*hotline, "roster", "import", "--if-empty", str(ROOT / "config/roster.yaml")],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "app:create_app()",
        ],
        env=env,
        cwd=ROOT,
    )
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the server did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=5077)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
        server = start_server(url, args.workers, args.port, workdir)
        base = f"http://127.0.0.1:{args.port}"
        try:
            errors, latencies = 0, []
            started = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                for future in [pool.submit(one_call, base) for _ in range(args.calls)]:
                    try:
                        latencies.append(future.result())
                    except Exception:  # counted, not fatal: the figure is the error count
                        errors += 1
            wall = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(10)
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    result = {
        "database": url.split(":", 1)[0].split("+")[0],
        "calls": args.calls,
        "concurrency": args.concurrency,
        "workers": args.workers,
        "calls_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(q[49], 1),
        "p90_ms": round(q[89], 1),
        "p99_ms": round(q[98], 1),
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "errors": errors,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print("key press → <Dial> TwiML, measured at the client on loopback")
        for key, value in result.items():
            print(f"  {key:<12} {value}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
