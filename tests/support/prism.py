"""Stoplight Prism serving Twilio's OpenAPI spec: the REST API contract the tests run against.

The spec is vendored in `tools/twilio_oai/` (its SOURCE.md says from where and when);
TWILIO_OPENAPI_SPEC overrides the path. Prism comes from
`npm ci` (package-lock.json, run by `make install`). Prism runs with `--errors`, so a request that
violates the spec is answered with an error status (422, or 401 without credentials) instead of a
mock response. Prism reads a copy of the spec in which form-encoded array parameters also accept
a single item (see `widen_form_arrays`); nothing else differs. When Prism or the spec is missing
the tests are skipped with the reason; under CI=true they fail instead.

A plugin of tests/conftest.py: any test can ask for the `prism` fixture (the mock's base URL).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from tools.twilio_mock import (
    PRISM_BIN,
    REPO_ROOT,
    SPEC_ENV,
    prism_command,
    spec_path,
    widen_form_arrays,
    write_prism_spec,
)

#: Prism needs about 3 s to load Twilio's 1.9 MB spec; a loaded CI machine may need much more.
STARTUP_TIMEOUT = 60.0

__all__ = ["prism_fixture", "spec_path", "widen_form_arrays"]


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and the Twilio contract tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"Twilio contract tests skipped: {reason}")


def _problem() -> str | None:
    """Why Prism cannot run here, or None when it can."""
    spec = spec_path()
    if not spec.is_file() and os.environ.get(SPEC_ENV):
        return f"{SPEC_ENV}={spec} is not a file"
    if not spec.is_file():
        return f"Twilio's OpenAPI spec is not at {spec} (vendored in tools/twilio_oai/)"
    if shutil.which("node") is None:
        return "node is not installed (Prism needs Node.js >= 20)"
    if not PRISM_BIN.exists():
        return f"{PRISM_BIN.relative_to(REPO_ROOT)} is missing (run `make install` or `npm ci`)"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    """Whether an HTTP server answers on the port (Prism answers `/` with 404)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
    except OSError:
        return False
    finally:
        connection.close()
    return True


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session", name="prism")
def prism_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prism mocking Twilio's REST API from its OpenAPI spec; yields its base URL.

    Give it to the Twilio client as `client.api.base_url` (settings: twilio_api_base_url).
    Prism's log (every request, and why it rejected one) is `prism.log` in the fixture's
    temporary directory, whose path failures show.
    """
    problem = _problem()
    if problem:
        unavailable(problem)
    directory = tmp_path_factory.mktemp("prism")
    spec = write_prism_spec(directory)
    log_path = directory / "prism.log"
    port = _free_port()
    with log_path.open("wb") as log:
        try:
            process = subprocess.Popen(  # noqa: S603 (fixed arguments, no shell)
                prism_command(spec, port), cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        except OSError as exc:
            unavailable(f"cannot start {PRISM_BIN}: {exc}")
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _answers(port):
            if process.poll() is not None:
                unavailable(
                    f"Prism exited with status {process.returncode} while starting; "
                    f"end of {log_path}:\n{_tail(log_path)}"
                )
            if time.monotonic() > deadline:
                unavailable(
                    f"Prism did not answer within {STARTUP_TIMEOUT:.0f} s; "
                    f"end of {log_path}:\n{_tail(log_path)}"
                )
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(OSError):
            _stop(process)
