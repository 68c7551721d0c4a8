"""`hotline providers …`: contracted market service providers for operators.

`sync` writes config/providers.yaml to the database, `list` shows providers (or those that may
be dispatched for a category), `complain` records a complaint (three within a rolling year
suspend the provider), `report` gives a year's figures for the subsidy and reward decision.
A refused command prints why and exits with status 1, changing nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import click
from flask import Flask, current_app

from config.settings import CONFIG_DIR
from core import db
from core.webhooks import settings
from providers import complaints, contracts, service
from providers.errors import ProviderError, ProvidersError
from providers.models import ProviderState
from providers.report import year_report


@click.group("providers", help="Contracted market service providers (locks, plumbing, …).")
def providers_cli() -> None:
    pass


def providers_file(app: Flask) -> Path:
    """The app's providers file: the `providers_file` setting if there is one, else the demo."""
    configured = getattr(app.extensions["hotline.settings"], "providers_file", None)
    return Path(configured) if configured else CONFIG_DIR / "providers.yaml"


@providers_cli.command("sync")
@click.option(
    "--file",
    "file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Another providers file (default: the configured one, config/providers.yaml).",
)
def sync(file: Path | None) -> None:
    """Write the providers file to the database (validated first; suspensions are kept)."""
    path = file or providers_file(current_app)
    try:
        config = contracts.load_providers(path, settings().default_region)
    except ProvidersError as exc:
        raise click.ClickException(str(exc)) from None
    session = db.session()
    result = service.sync_providers(session, config, now=db.utcnow(), tz=settings().tz)
    session.commit()
    click.echo(
        f"synchronised {len(config)} providers from {path}: {len(result.added)} added, "
        f"{len(result.updated)} updated, {len(result.unchanged)} unchanged"
    )
    for label, codes in (
        ("no longer in the file, now expired", result.removed),
        ("still suspended (the file does not lift a suspension)", result.suspended),
        ("contract ended", result.expired),
    ):
        if codes:
            click.echo(f"  {label}: {', '.join(codes)}")


@providers_cli.command("list")
@click.option(
    "--category",
    default=None,
    help="Only providers that may be dispatched now for this category or sub-service.",
)
def list_command(category: str | None) -> None:
    """Providers with their state, contract, categories and duty phone."""
    session = db.session()
    now = db.utcnow()
    if category is None:
        providers = service.list_providers(session)
    else:
        providers = service.eligible(session, category, now, tz=settings().tz)
    if not providers:
        click.echo("no providers" if category is None else f"no provider for {category!r} now")
        return
    for provider in providers:
        recent = len(complaints.recent_complaints(session, provider, now))
        click.echo(
            f"{provider.code:<22} {provider.state.value:<10} {provider.phone:<15} "
            f"{provider.contract_start.isoformat()}…{provider.contract_end.isoformat()}  "
            f"complaints (365 d): {recent}  {provider.name_zh} / {provider.name_en}"
        )
        click.echo(f"    categories: {', '.join(provider.categories)}")
        prices = ", ".join(
            f"{code} {item['price']} (market {item['market_reference']})"
            for code, item in sorted(provider.prices.items())
        )
        click.echo(f"    prices: {prices}")
        if provider.state is ProviderState.SUSPENDED:
            click.echo(
                f"    suspended {_local(provider.suspended_at)}: {provider.suspension_reason}"
            )
    click.echo(f"{len(providers)} provider(s)")


@providers_cli.command("complain")
@click.argument("code")
@click.option("--case", "case_number", default=None, help="The case number it concerns.")
@click.option("--note", required=True, help="What the caller complained about.")
def complain(code: str, case_number: str | None, note: str) -> None:
    """Record a complaint against provider CODE; the third within a year suspends it."""
    session = db.session()
    now = db.utcnow()
    try:
        suspended = complaints.record_complaint(
            session, code, case_number, note, now, tz=settings().tz
        )
    except ProviderError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from None
    session.commit()
    provider = service.get_provider(session, code)
    recent = len(complaints.recent_complaints(session, provider, now))
    click.echo(
        f"complaint recorded against {provider.code} ({provider.name_zh}); "
        f"{recent} within the last 365 days"
    )
    if suspended:
        click.echo(f"{provider.code} is now SUSPENDED (no further dispatch):")
        click.echo(f"  {provider.suspension_reason}")
    elif provider.state is ProviderState.SUSPENDED:
        click.echo(f"{provider.code} was already suspended")
    else:
        click.echo(f"{provider.code} is not suspended ({provider.state.value})")


@providers_cli.command("report")
@click.option("--year", type=click.IntRange(2000, 2999), default=None, help="Default: this year.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV instead of a table.")
def report(year: int | None, as_csv: bool) -> None:
    """A year's figures per provider: volume, punctuality, satisfaction, complaints."""
    tz = settings().tz
    year = year or dt.datetime.now(tz).year
    rows = year_report(db.session(), year, tz=tz)
    header = [
        "code",
        "name",
        "state",
        "jobs",
        "amount_cny",
        "on_time_rate",
        "satisfaction_avg",
        "satisfaction_rate",
        "complaints",
    ]
    if as_csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for r in rows:
            writer.writerow(
                [
                    r.code,
                    r.name_zh,
                    r.state.value,
                    r.jobs,
                    f"{r.amount:.2f}",
                    _fmt(r.on_time_rate, "{:.4f}", ""),
                    _fmt(r.satisfaction_avg, "{:.2f}", ""),
                    _fmt(r.satisfaction_rate, "{:.4f}", ""),
                    r.complaints,
                ]
            )
        click.echo(buffer.getvalue(), nl=False)
        return
    if not rows:
        click.echo("no providers")
        return
    click.echo(f"providers in {year}:")
    click.echo(
        f"{'code':<22} {'state':<10} {'jobs':>5} {'amount':>11} {'on time':>8} "
        f"{'avg sat.':>8} {'satisfied':>9} {'complaints':>10}  name"
    )
    for r in rows:
        click.echo(
            f"{r.code:<22} {r.state.value:<10} {r.jobs:>5} {r.amount:>11.2f} "
            f"{_fmt(r.on_time_rate, '{:.1%}'):>8} {_fmt(r.satisfaction_avg, '{:.2f}'):>8} "
            f"{_fmt(r.satisfaction_rate, '{:.1%}'):>9} {r.complaints:>10}  {r.name_zh}"
        )


def _fmt(value: float | None, pattern: str, missing: str = "-") -> str:
    """`value` formatted, or `missing` when there is no figure (no job rated, none timed)."""
    return missing if value is None else pattern.format(value)


def _local(moment: dt.datetime | None) -> str:
    return "-" if moment is None else f"{moment.astimezone(settings().tz):%Y-%m-%d %H:%M}"
