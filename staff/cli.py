"""`hotline users …`: staff accounts for the console and API tokens."""

from __future__ import annotations

import click
from flask import current_app
from sqlalchemy import select

from core import db
from core.db import utcnow
from core.webhooks import settings
from staff.models import ApiToken, Role, StaffUser
from staff.service import PasswordError, hash_password, new_api_token

#: The demo logins `make run` creates on a development database (refused in production).
DEMO_USERS = (
    ("dispatcher", Role.DISPATCHER, None, "调度员（演示）"),
    ("supervisor", Role.SUPERVISOR, None, "督办员（演示）"),
    ("admin", Role.ADMIN, None, "管理员（演示）"),
    ("unit-city", Role.UNIT, "city_management", "城管局联系人（演示）"),
    ("unit-water", Role.UNIT, "water_supply", "自来水公司联系人（演示）"),
)
DEMO_PASSWORD = "minsheng-demo"  # noqa: S105 (the documented demo login, refused in production)


@click.group("users", help="Staff accounts (console logins, roles, API tokens).")
def users_cli() -> None:
    pass


def _user(username: str) -> StaffUser:
    found = db.session().scalar(select(StaffUser).where(StaffUser.username == username))
    if found is None:
        raise click.ClickException(f"no user {username!r}")
    return found


def _check_unit(role: Role, unit: str | None) -> None:
    if role is Role.UNIT:
        if not unit:
            raise click.ClickException("a unit contact needs --unit CODE")
        if current_app.extensions["hotline.units"].get(unit) is None:
            raise click.ClickException(f"unknown unit {unit!r} (see UNITS_FILE)")
    elif unit:
        raise click.ClickException("--unit is only for the role unit")


@users_cli.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--unit", default=None, help="For --role unit: the unit's code.")
@click.option("--name", default="", help="The name the console shows.")
@click.option("--language", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.password_option(help="At least 10 characters (asked for when not given).")
def add(
    username: str, role: str, unit: str | None, name: str, language: str, password: str
) -> None:
    """Create a staff account."""
    chosen = Role(role)
    _check_unit(chosen, unit)
    session = db.session()
    if session.scalar(select(StaffUser.id).where(StaffUser.username == username)) is not None:
        raise click.ClickException(f"user {username!r} exists (hotline users passwd to reset)")
    try:
        hashed = hash_password(password)
    except PasswordError as exc:
        raise click.ClickException(str(exc)) from None
    session.add(
        StaffUser(
            username=username[:64],
            display_name=name,
            password_hash=hashed,
            role=chosen,
            unit_code=unit,
            language=language,
        )
    )
    session.commit()
    click.echo(f"added {username} ({chosen.value}{' of ' + unit if unit else ''})")


@users_cli.command("list")
def list_users() -> None:
    """Accounts with role, unit and state."""
    for u in db.session().scalars(select(StaffUser).order_by(StaffUser.username)):
        state = "disabled" if u.disabled else ""
        if u.failed_logins:
            state = f"{state} {u.failed_logins} wrong password(s) since the last login".strip()
        click.echo(f"{u.username:<20} {u.role.value:<11} {u.unit_code or '-':<20} {state}")


@users_cli.command("passwd")
@click.argument("username")
@click.password_option()
def passwd(username: str, password: str) -> None:
    """Set a new password (ends the user's sessions, clears the wrong-password count)."""
    user = _user(username)
    try:
        user.password_hash = hash_password(password)
    except PasswordError as exc:
        raise click.ClickException(str(exc)) from None
    user.session_version += 1
    user.failed_logins, user.locked_until = 0, None
    db.session().commit()
    click.echo(f"password of {username} changed")


@users_cli.command("unlock")
@click.argument("username")
def unlock(username: str) -> None:
    """Clear the count of wrong passwords (accounts are not locked by them: logins are
    rate-limited by address instead)."""
    user = _user(username)
    user.failed_logins, user.locked_until = 0, None
    db.session().commit()
    click.echo(f"{username}: wrong-password count cleared")


@users_cli.command("disable")
@click.argument("username")
def disable(username: str) -> None:
    """Disable an account: its sessions and API tokens stop working at once."""
    user = _user(username)
    user.disabled = True
    user.session_version += 1
    db.session().commit()
    click.echo(f"{username} disabled")


@users_cli.command("token")
@click.argument("username")
@click.option("--name", default="", help="What the token is for.")
def token(username: str, name: str) -> None:
    """Create an API token acting as USERNAME; it is shown once."""
    user = _user(username)
    plain = new_api_token(user, name or "cli", session=db.session())
    db.session().commit()
    click.echo(plain)


@users_cli.command("revoke")
@click.argument("username")
def revoke(username: str) -> None:
    """Revoke every API token of USERNAME."""
    user = _user(username)
    count = 0
    for row in db.session().scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ):
        row.revoked_at = utcnow()
        count += 1
    db.session().commit()
    click.echo(f"revoked {count} token(s) of {username}")


@users_cli.command("demo")
def demo() -> None:
    """Create the demo logins (development only; existing accounts are left alone)."""
    if settings().is_production:
        raise click.ClickException("no demo logins in production")
    session = db.session()
    created = []
    hashed = hash_password(DEMO_PASSWORD)
    for username, role, unit, name in DEMO_USERS:
        exists = session.scalar(select(StaffUser.id).where(StaffUser.username == username))
        if exists is None:
            session.add(
                StaffUser(
                    username=username,
                    display_name=name,
                    password_hash=hashed,
                    role=role,
                    unit_code=unit,
                )
            )
            created.append(username)
    session.commit()
    names = ", ".join(u for u, *_ in DEMO_USERS)
    click.echo(f"demo logins ({names}), password {DEMO_PASSWORD!r}: {len(created)} created")
