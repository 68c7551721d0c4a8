"""The whole schema: importing this module registers every domain's tables on Base.metadata."""

from __future__ import annotations

from sqlalchemy import MetaData

import calls.models  # noqa: F401  (registers tables)
import cases.models  # noqa: F401
import core.alerts
import core.calendar
import core.jobs
import core.models
import core.pacer  # noqa: F401
import ivr.models  # noqa: F401
import providers.models  # noqa: F401
import recordings.models  # noqa: F401
import routing.models  # noqa: F401
import staff.models  # noqa: F401
import surveys.models  # noqa: F401
from core.db import Base


def metadata() -> MetaData:
    """Base.metadata with every domain's models loaded; what migrations must match."""
    return Base.metadata
