"""A local stand-in for Twilio's REST API: Stoplight Prism serving Twilio's own OpenAPI spec.

`make run` starts it (when Prism from `npm ci` is there) and points the hotline's
Twilio client at it with TWILIO_API_BASE_URL, so SMS and survey calls "go out" in the demo
without an account; tests start it too (tests/support/prism.py). Prism answers a request the
spec allows with a sample record and one it forbids with an error (422), like Twilio would.

The spec is vendored in `tools/twilio_oai/` (see its SOURCE.md), so a fresh clone needs nothing
beside it; TWILIO_OPENAPI_SPEC serves another copy instead. Prism reads a copy of the spec in which
form-encoded array parameters also accept a single item (`widen_form_arrays`); nothing else differs.

    .venv/bin/python -m tools.twilio_mock --port 4010
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Twilio's OpenAPI spec, vendored (tools/twilio_oai/SOURCE.md says from where and when).
DEFAULT_SPEC = Path(__file__).resolve().parent / "twilio_oai" / "twilio_api_v2010.json"
SPEC_ENV = "TWILIO_OPENAPI_SPEC"
PRISM_BIN = REPO_ROOT / "node_modules" / ".bin" / "prism"
_FORM_MEDIA_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def spec_path() -> Path:
    """Twilio's OpenAPI spec: TWILIO_OPENAPI_SPEC, or the copy vendored in tools/twilio_oai/."""
    override = os.environ.get(SPEC_ENV)
    return Path(override).expanduser().resolve() if override else DEFAULT_SPEC


def widen_form_arrays(spec: dict[str, Any]) -> list[str]:
    """Let each form-encoded array parameter also be a single item; returns what it widened.

    Twilio sends a list parameter (StatusCallbackEvent, MediaUrl, ...) as repeated keys, which
    Twilio's API reads as an array. Prism keeps only the last of repeated form keys, so it sees a
    string and rejects every such request ("must be array"; stoplightio/prism#2473, open). Each
    widened parameter accepts what it did before or one item, which Prism checks against the
    item schema; nothing else in the spec changes.
    """
    widened: list[str] = []
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            content = operation.get("requestBody", {}).get("content", {})
            for media_type in _FORM_MEDIA_TYPES:
                properties = content.get(media_type, {}).get("schema", {}).get("properties", {})
                for name, schema in properties.items():
                    if schema.get("type") == "array" and "items" in schema:
                        properties[name] = {"anyOf": [schema, schema["items"]]}
                        widened.append(f"{method.upper()} {path} {name}")
    return widened


def write_prism_spec(directory: Path) -> Path:
    """The widened copy of Twilio's spec that Prism serves, written into `directory`."""
    document = json.loads(spec_path().read_text(encoding="utf-8"))
    widen_form_arrays(document)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "twilio_api_v2010.prism.json"
    target.write_text(json.dumps(document), encoding="utf-8")
    return target


def prism_command(spec: Path, port: int, host: str = "127.0.0.1") -> list[str]:
    return [str(PRISM_BIN), "mock", "--host", host, "-p", str(port), "--errors", str(spec)]


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a Prism mock of Twilio's REST API.")
    parser.add_argument("--port", type=int, default=4010)
    parser.add_argument("--dir", type=Path, default=REPO_ROOT / "instance" / "twilio-mock")
    args = parser.parse_args()
    if not spec_path().is_file():
        sys.exit(f"twilio_mock: no OpenAPI spec at {spec_path()} (set {SPEC_ENV})")
    if not PRISM_BIN.exists():
        sys.exit(f"twilio_mock: {PRISM_BIN} is missing (run `npm ci`)")
    command = prism_command(write_prism_spec(args.dir), args.port)
    os.execv(command[0], command)  # noqa: S606 (fixed arguments, no shell)


if __name__ == "__main__":
    main()
