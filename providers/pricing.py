"""The price policy: a provider charges at least 15% below market (DOMAIN.md).

No price above 85% of the market reference is accepted, neither in the agreed price list nor
when a job is assigned. Amounts are CNY, to the fen.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

#: The most a provider may charge, as a share of the market reference (at least 15% below).
MAX_SHARE = Decimal("0.85")
CENT = Decimal("0.01")
#: Numeric(10, 2): below a hundred million yuan.
MAX_AMOUNT = Decimal("99999999.99")


def max_price(market_reference: Decimal) -> Decimal:
    """The highest price allowed for a service with this market reference (to the fen, down)."""
    return (market_reference * MAX_SHARE).quantize(CENT, rounding=ROUND_DOWN)


def price_problem(price: Decimal, market_reference: Decimal) -> str | None:
    """Why `price` is refused against `market_reference`, or None when it is allowed."""
    if price > market_reference * MAX_SHARE:
        return (
            f"{price:.2f} is above {MAX_SHARE:.0%} of the market reference "
            f"{market_reference:.2f} (max {max_price(market_reference):.2f})"
        )
    return None


@dataclass(frozen=True)
class PriceItem:
    """One service of an agreed price list (amounts in CNY)."""

    service: str
    name_zh: str
    name_en: str
    price: Decimal
    market_reference: Decimal

    @property
    def max_price(self) -> Decimal:
        return max_price(self.market_reference)

    def to_json(self) -> dict[str, str]:
        return {
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "price": f"{self.price:.2f}",
            "market_reference": f"{self.market_reference:.2f}",
        }


def parse_money(value: Any) -> Decimal:
    """`value` (int, float, text or Decimal) as a positive amount in CNY with two decimals.

    ValueError when it is missing, not a number, not positive, finer than a fen, or too large.
    """
    if value is None:
        raise ValueError("missing")
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f"must be an amount in CNY, got {value!r}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"must be an amount in CNY, got {value!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"must be a positive amount in CNY, got {value!r}")
    if amount > MAX_AMOUNT:
        raise ValueError(f"at most {MAX_AMOUNT}, got {value!r}")
    if amount != amount.quantize(CENT, rounding=ROUND_DOWN):
        raise ValueError(f"at most two decimals (fen), got {value!r}")
    return amount.quantize(CENT)
