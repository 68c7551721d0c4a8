"""Case numbers: 'MS-20261125-0007', the local day and its sequence, from one atomic upsert."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, cast

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cases.models import CaseCounter

NUMBER_PREFIX = "MS"


def format_number(day: dt.date, sequence: int) -> str:
    """'MS-20261125-0007': the local day and its sequence (more digits past 9999)."""
    return f"{NUMBER_PREFIX}-{day:%Y%m%d}-{sequence:04d}"


def allocate_number(session: Session, day: dt.date) -> str:
    """The next case number of local `day`, from one atomic upsert (safe across processes).

    On PostgreSQL the counter row stays locked until the transaction ends, so concurrent intakes
    of one day queue there for a moment; numbers of a rolled-back transaction are not reused
    (a gap, never a duplicate).
    """
    statement = _next_number(session.get_bind().dialect.name)
    sequence: int = session.execute(statement, {"day": day}).scalar_one()
    return format_number(day, sequence)


@functools.cache
def _next_number(dialect: str) -> Any:
    """The counter's upsert, built once (the day is bound at execution)."""
    insert = sqlite_insert if dialect == "sqlite" else pg_insert
    table = cast(Table, CaseCounter.__table__)
    return (
        insert(table)
        .values(day=bindparam("day", type_=table.c.day.type), last=1)
        .on_conflict_do_update(index_elements=[table.c.day], set_={"last": table.c.last + 1})
        .returning(table.c.last)
    )
