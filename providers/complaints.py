"""Complaints against providers, and the automatic suspension (DOMAIN.md).

Three complaints within a rolling year (the 365 days ending at the latest complaint) suspend the
provider, with the reason on record. Functions flush, never commit.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from providers.errors import ProviderError, ProviderNotFound
from providers.models import MAX_CASE_NUMBER, Provider, ProviderComplaint, ProviderState
from providers.times import aware, local_date

#: Complaints within this many days, counted back from the latest, suspend a provider...
COMPLAINT_WINDOW = dt.timedelta(days=365)
#: ...when there are this many.
COMPLAINT_LIMIT = 3


def recent_complaints(
    session: Session, provider: Provider, now: dt.datetime
) -> list[ProviderComplaint]:
    """The provider's complaints within the 365 days ending at `now`, oldest first."""
    now = aware(now)
    return list(
        session.scalars(
            select(ProviderComplaint)
            .where(
                ProviderComplaint.provider_id == provider.id,
                ProviderComplaint.at >= now - COMPLAINT_WINDOW,
                ProviderComplaint.at <= now,
            )
            .order_by(ProviderComplaint.at, ProviderComplaint.id)
        )
    )


def record_complaint(
    session: Session,
    provider_code: str,
    case_number: str | None,
    note: str,
    now: dt.datetime,
    *,
    tz: dt.tzinfo | None = None,
) -> bool:
    """Record a complaint; True when it suspended the provider.

    That is when it is the third within the 365 days ending `now` (a complaint exactly 365 days
    old still counts) and the provider was not suspended already. The suspension reason lists
    the complaints' local dates and case numbers. A complaint is recorded whatever the state.
    """
    now = aware(now)
    note = note.strip()
    if not note:
        raise ProviderError("a complaint needs a note: what the caller complained about")
    if case_number is not None:
        case_number = case_number.strip() or None
    if case_number is not None and len(case_number) > MAX_CASE_NUMBER:
        raise ProviderError(f"case number: at most {MAX_CASE_NUMBER} characters")
    provider = session.scalar(
        select(Provider)
        .where(Provider.code == provider_code.strip())
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if provider is None:
        raise ProviderNotFound(f"no provider {provider_code!r}")
    session.add(
        ProviderComplaint(provider_id=provider.id, case_number=case_number, at=now, note=note)
    )
    session.flush()
    recent = recent_complaints(session, provider, now)
    if len(recent) < COMPLAINT_LIMIT or provider.state is ProviderState.SUSPENDED:
        return False
    listed = "; ".join(
        f"{local_date(c.at, tz or now.tzinfo).isoformat()} ({c.case_number or 'no case'})"
        for c in recent
    )
    provider.state = ProviderState.SUSPENDED
    provider.suspended_at = now
    provider.suspension_reason = (
        f"{len(recent)} complaints within {COMPLAINT_WINDOW.days} days: {listed}"
    )
    session.flush()
    return True
