"""Tables: `providers`, the work they do on cases (`provider_jobs`), and their complaints."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    event,
)
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from calls.models import AppendOnlyError
from core.db import Base, BigIntPK, JSONDoc, UTCDateTime, str_enum, utcnow

#: Money in CNY, to the fen.
Money = Numeric(10, 2)
#: The longest case number a job or a complaint refers to.
MAX_CASE_NUMBER = 32


class ProviderState(enum.StrEnum):
    #: Under contract and in good standing: may be dispatched (within the contract dates).
    ACTIVE = "active"
    #: Lost its qualification (three complaints within a year); never dispatched again until
    #: re-admitted. Synchronising the contracts file does not lift it.
    SUSPENDED = "suspended"
    #: The contract ended (or the provider left the contracts file).
    EXPIRED = "expired"


class Provider(Base):
    """A contracted market service provider, as synchronised from config/providers.yaml."""

    __tablename__ = "providers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128))
    #: Classifier category ids and sub-services it serves, e.g. ["household_services", "lock"].
    categories: Mapped[list[str]] = mapped_column(JSONDoc)
    #: The duty phone, E.164: must answer whenever the center instructs, at any hour.
    phone: Mapped[str] = mapped_column(String(16))
    #: The agreement's first and last day (local dates, both included).
    contract_start: Mapped[dt.date] = mapped_column(Date)
    contract_end: Mapped[dt.date] = mapped_column(Date)
    #: The agreed price list: {service code: {"name_zh", "name_en", "price", "market_reference"}},
    #: the amounts as decimal strings ("170.00").
    prices: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    state: Mapped[ProviderState] = mapped_column(str_enum(ProviderState, length=16))
    suspended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    suspension_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (CheckConstraint("contract_end >= contract_start", name="contract_dates"),)

    def __repr__(self) -> str:
        return f"<Provider {self.code} {self.state}>"


class ProviderJob(Base):
    """A provider's work on a case: the service, the price quoted, and how it went."""

    __tablename__ = "provider_jobs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="RESTRICT"))
    #: The case's number ("MS-20261125-0007"); no foreign key, a job may precede its case.
    case_number: Mapped[str] = mapped_column(String(MAX_CASE_NUMBER))
    #: A service code of the provider's price list.
    service: Mapped[str] = mapped_column(String(32))
    price: Mapped[decimal.Decimal] = mapped_column(Money)
    quoted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Whether the provider arrived and finished in the promised time (None: not known).
    on_time: Mapped[bool | None] = mapped_column(Boolean)
    #: The caller's rating, 1 to 5, from the callback survey (None: not rated).
    satisfaction: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("satisfaction BETWEEN 1 AND 5", name="satisfaction_range"),
        Index("ix_provider_jobs_provider_id_completed_at", "provider_id", "completed_at"),
        Index("ix_provider_jobs_case_number", "case_number"),
    )


class ProviderComplaint(Base):
    """A complaint against a provider. Never changed or deleted: suspensions rest on them."""

    __tablename__ = "provider_complaints"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="RESTRICT"))
    case_number: Mapped[str | None] = mapped_column(String(MAX_CASE_NUMBER))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_provider_complaints_provider_id_at", "provider_id", "at"),)


@event.listens_for(ProviderComplaint, "before_update")
@event.listens_for(ProviderComplaint, "before_delete")
def _refuse_change(_mapper: Mapper[Any], _conn: Any, target: ProviderComplaint) -> None:
    raise AppendOnlyError(f"provider_complaints is append-only (complaint {target.id})")
