"""The OpenAPI 3 document of `/api/v1`: what the routes in api/v1.py accept and return.

Kept by hand next to the routes (a generator would describe the framework, not the contract);
tests/test_api.py runs schemathesis against it, so a route that strays from it fails.
"""

from __future__ import annotations

from typing import Any

_NULLABLE_STR = {"type": ["string", "null"]}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_TIME = {"type": "string", "format": "date-time"}
_RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
#: Text in a path or query: no NUL character (refused with 400 everywhere, see app.py).
_TEXT = {"type": "string", "pattern": "^[^\\u0000]*$"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "Bad request: the reason says which parameter",
        401: "No valid bearer token",
        403: "The token's role may not do this",
        404: "Not found",
        409: "Not possible in the current state",
    }
    return {str(c): _json(_ref("Error"), reasons[c]) for c in codes}


def _page(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "limit", "offset", "next_offset"],
        "properties": {
            "items": {"type": "array", "items": _ref(item)},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "next_offset": {"type": ["integer", "null"]},
        },
    }


_LIMIT = {
    "name": "limit",
    "in": "query",
    "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
}
_OFFSET = {
    "name": "offset",
    "in": "query",
    "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000, "default": 0},
}
_PERIOD = [
    {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
    {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
]
CASE_STATES = [
    "received",
    "handled_on_spot",
    "dispatched",
    "accepted",
    "in_progress",
    "resolved",
    "closed",
    "reopened",
]
ACTIONS = [
    "handle_on_spot",
    "dispatch",
    "accept",
    "start",
    "resolve",
    "close",
    "reopen",
    "escalate",
]
SURVEY_STATES = ["scheduled", "dialing", "completed", "unreachable", "cancelled"]

_CASE = {
    "type": "object",
    "required": ["number", "state", "category", "created_at", "due_at", "overdue"],
    "properties": {
        "number": {"type": "string", "examples": ["MS-20261125-0001"]},
        "state": {"type": "string", "enum": CASE_STATES},
        "kind": {"type": "string"},
        "category": {"type": "string"},
        "unit": _NULLABLE_STR,
        "language": {"type": "string"},
        "source": {"type": "string", "enum": ["phone", "api", "open311"]},
        "confidential": {"type": "boolean"},
        "caller": {**_NULLABLE_STR, "description": "E.164; null when confidential"},
        "transcript": {"type": "string"},
        "feedback": _NULLABLE_STR,
        "recording_sid": _NULLABLE_STR,
        "reopen_count": {"type": "integer"},
        "created_at": _TIME,
        "updated_at": _TIME,
        "due_at": _TIME,
        "resolved_at": _NULLABLE_TIME,
        "closed_at": _NULLABLE_TIME,
        "overdue": {"type": "boolean"},
    },
}
_EVENT = {
    "type": "object",
    "required": ["at", "actor", "action", "to_state"],
    "properties": {
        "at": _TIME,
        "actor": {"type": "string"},
        "action": {"type": "string"},
        "from_state": {"type": ["string", "null"]},
        "to_state": {"type": "string"},
        "note": {"type": "string"},
    },
}
_CALL = {
    "type": "object",
    "required": ["call_sid", "caller", "status", "live", "started_at"],
    "properties": {
        "call_sid": {"type": "string"},
        "caller": {"type": "string"},
        "status": {"type": "string"},
        "live": {"type": "boolean"},
        "started_at": _TIME,
        "ended_at": _NULLABLE_TIME,
        "duration_s": {"type": ["integer", "null"]},
        "branch": _NULLABLE_STR,
        "kind": _NULLABLE_STR,
        "category": _NULLABLE_STR,
        "answered_by": _NULLABLE_STR,
        "answered_phone": _NULLABLE_STR,
    },
}


def document(server: str) -> dict[str, Any]:
    """The document, with this deployment's URL as its server."""
    case_number = {"name": "number", "in": "path", "required": True, "schema": _TEXT}
    sid = {"name": "sid", "in": "path", "required": True, "schema": _TEXT}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Minsheng Hotline API",
            "version": "1",
            "description": "Cases, calls, recordings, roster, surveys, providers and figures of "
            "the hotline's service center. Bearer tokens come from `hotline users token`.",
        },
        "servers": [{"url": server.rstrip("/") + "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": _json({"type": "object"})},
                }
            },
            "/cases": {
                "get": {
                    "summary": "Cases, newest first (a unit's token: only the unit's)",
                    "parameters": [
                        {"name": "state", "in": "query", "schema": {"enum": CASE_STATES}},
                        {"name": "category", "in": "query", "schema": _TEXT},
                        {"name": "unit", "in": "query", "schema": _TEXT},
                        {"name": "overdue", "in": "query", "schema": {"enum": ["true", "false"]}},
                        _LIMIT,
                        _OFFSET,
                    ],
                    "responses": {"200": _json(_page("Case")), **_errors(400, 401, 403)},
                }
            },
            "/cases/{number}": {
                "get": {
                    "summary": "One case with its timeline",
                    "parameters": [case_number],
                    "responses": {
                        "200": _json(
                            {
                                "allOf": [
                                    _ref("Case"),
                                    {
                                        "type": "object",
                                        "required": ["timeline"],
                                        "properties": {
                                            "timeline": {"type": "array", "items": _ref("Event")}
                                        },
                                    },
                                ]
                            }
                        ),
                        **_errors(401, 403, 404),
                    },
                }
            },
            "/cases/{number}/actions": {
                "post": {
                    "summary": "Act on a case: dispatch (with unit), accept, resolve (with note)…",
                    "parameters": [case_number],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("ActionRequest")}},
                    },
                    "responses": {"200": _json(_ref("Case")), **_errors(400, 401, 403, 404, 409)},
                }
            },
            "/calls": {
                "get": {
                    "summary": "Inbound calls of the last `hours`, newest first",
                    "parameters": [
                        {
                            "name": "hours",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 744},
                        },
                        _LIMIT,
                        _OFFSET,
                    ],
                    "responses": {"200": _json(_page("Call")), **_errors(400, 401, 403)},
                }
            },
            "/calls/{call_sid}": {
                "get": {
                    "summary": "One call",
                    "parameters": [
                        {
                            "name": "call_sid",
                            "in": "path",
                            "required": True,
                            "schema": _TEXT,
                        }
                    ],
                    "responses": {"200": _json(_ref("Call")), **_errors(401, 403, 404)},
                }
            },
            "/recordings/{sid}": {
                "get": {
                    "summary": "A recording's metadata",
                    "parameters": [sid],
                    "responses": {"200": _json(_ref("Recording")), **_errors(401, 403, 404)},
                }
            },
            "/recordings/{sid}/media": {
                "get": {
                    "summary": "A recording's verified audio",
                    "parameters": [sid],
                    "responses": {
                        "200": {
                            "description": "The audio",
                            "content": {"audio/x-wav": {}, "audio/mpeg": {}},
                        },
                        **_errors(401, 403, 404, 409),
                    },
                }
            },
            "/roster/now": {
                "get": {
                    "summary": "Who is on duty now, per team",
                    "responses": {"200": _json(_ref("RosterNow")), **_errors(401, 403, 404)},
                }
            },
            "/surveys": {
                "get": {
                    "summary": "Callback surveys with their answers, newest first",
                    "parameters": [
                        {"name": "state", "in": "query", "schema": {"enum": SURVEY_STATES}},
                        {"name": "case", "in": "query", "schema": _TEXT},
                        _LIMIT,
                        _OFFSET,
                    ],
                    "responses": {"200": _json(_page("Survey")), **_errors(400, 401, 403)},
                }
            },
            "/providers": {
                "get": {
                    "summary": "Contracted market service providers",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["items"],
                                "properties": {
                                    "items": {"type": "array", "items": _ref("Provider")}
                                },
                            }
                        ),
                        **_errors(401, 403),
                    },
                }
            },
            "/figures": {
                "get": {
                    "summary": "The center's figures for a period of local days (default 7)",
                    "parameters": _PERIOD,
                    "responses": {"200": _json(_ref("Figures")), **_errors(400, 401, 403)},
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "reason"],
                    "properties": {"error": {"type": "string"}, "reason": {"type": "string"}},
                },
                "Case": _CASE,
                "Event": _EVENT,
                "ActionRequest": {
                    "type": "object",
                    "required": ["action"],
                    "properties": {
                        "action": {"type": "string", "enum": ACTIONS},
                        "note": {**_TEXT, "maxLength": 2000},
                        "unit": _TEXT,
                    },
                },
                "Call": _CALL,
                "Recording": {
                    "type": "object",
                    "required": ["recording_sid", "state"],
                    "properties": {
                        "recording_sid": {"type": "string"},
                        "call_sid": _NULLABLE_STR,
                        "state": {"type": "string"},
                        "duration_s": {"type": ["integer", "null"]},
                        "size_bytes": {"type": ["integer", "null"]},
                        "sha256": _NULLABLE_STR,
                        "stored_at": _NULLABLE_TIME,
                        "last_error": _NULLABLE_STR,
                    },
                },
                "RosterNow": {
                    "type": "object",
                    "required": ["at", "teams"],
                    "properties": {
                        "at": _TIME,
                        "teams": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["team", "on_duty"],
                                "properties": {
                                    "team": {"type": "string"},
                                    "name_zh": {"type": "string"},
                                    "name_en": {"type": "string"},
                                    "on_duty": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "code": {"type": "string"},
                                                "name": {"type": "string"},
                                                "phone": {"type": "string"},
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
                "Survey": {
                    "type": "object",
                    "required": ["case", "round", "state", "attempts", "answers"],
                    "properties": {
                        "case": {"type": "string"},
                        "round": {"type": "integer"},
                        "state": {"type": "string", "enum": SURVEY_STATES},
                        "outcome": _NULLABLE_STR,
                        "attempts": {"type": "integer"},
                        "due_at": _TIME,
                        "concluded_at": _NULLABLE_TIME,
                        "negative": {"type": ["boolean", "null"]},
                        "note": {"type": "string"},
                        "answers": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "question": {"type": "string"},
                                    "value": _NULLABLE_STR,
                                    "positive": {"type": ["boolean", "null"]},
                                    "text": {"type": "string"},
                                },
                            },
                        },
                    },
                },
                "Provider": {
                    "type": "object",
                    "required": ["code", "state", "categories"],
                    "properties": {
                        "code": {"type": "string"},
                        "name_zh": {"type": "string"},
                        "name_en": {"type": "string"},
                        "state": {"type": "string"},
                        "categories": {"type": "array", "items": {"type": "string"}},
                        "contract_start": {"type": "string", "format": "date"},
                        "contract_end": {"type": "string", "format": "date"},
                    },
                },
                "Figures": {
                    "type": "object",
                    "required": ["since", "until", "calls_per_hour", "emergency_answer"],
                    "properties": {
                        "since": _TIME,
                        "until": _TIME,
                        "calls_per_hour": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "hour": {"type": "string"},
                                    "calls": {"type": "integer"},
                                },
                            },
                        },
                        "emergency_answer": {
                            "type": "object",
                            "properties": {
                                "calls": {"type": "integer"},
                                "p50_s": {"type": ["number", "null"]},
                                "p90_s": {"type": ["number", "null"]},
                                "share_within_15_s": _RATE,
                            },
                        },
                        "bridged_calls": {
                            "type": "object",
                            "description": "Bridged calls by how they ended; a caller who hung "
                            "up while phones rang is abandoned, neither answered nor unanswered.",
                            "properties": {
                                "answered": {"type": "integer", "minimum": 0},
                                "abandoned": {"type": "integer", "minimum": 0},
                                "unanswered": {"type": "integer", "minimum": 0},
                                "ringing": {"type": "integer", "minimum": 0},
                                "abandon_rate": _RATE,
                            },
                        },
                        "cases_by_category": {"type": "array", "items": {"type": "object"}},
                        "cases_by_unit": {"type": "array", "items": {"type": "object"}},
                        "cases": {"type": "integer"},
                        "overdue": {"type": "integer"},
                        "overdue_rate": _RATE,
                        "surveys_by_unit": {"type": "array", "items": {"type": "object"}},
                        "complaints_by_provider": {"type": "array", "items": {"type": "object"}},
                    },
                },
            },
        },
    }
