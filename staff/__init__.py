"""Staff: who is asking and what they may do, for the console, the API and Open311 alike.

`models` holds the accounts (`staff_users`) and API tokens (`api_tokens`) with their roles,
`service` passwords, logins with their lock-out, tokens and the role rules (it flushes, never
commits), `cli` the `hotline users …` commands. Nothing here knows a web page or a route: the
console's session, the API's and Open311's views build on it.
"""

from __future__ import annotations

from flask import Flask

from staff.cli import users_cli


def init_app(app: Flask) -> None:
    app.cli.add_command(users_cli)
