"""Money is integer micro-dollars inside, decimal dollars at the edges."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated

from pydantic import BeforeValidator, Field

MICROS_PER_DOLLAR = 1_000_000
MAX_USD = Decimal(1_000_000)


def _as_decimal(value: object) -> object:
    # A JSON float goes through its shortest repr ("1e-06"), never through binary expansion.
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


UsdIn = Annotated[
    Decimal,
    BeforeValidator(_as_decimal),
    Field(ge=0, le=MAX_USD, allow_inf_nan=False, description="US dollars, rounded to $0.000001"),
]


def to_micros(usd: Decimal) -> int:
    """Dollars → micro-dollars, rounded half-to-even at the sixth decimal."""
    return int((Decimal(usd) * MICROS_PER_DOLLAR).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def to_usd(micros: int) -> float:
    """Micro-dollars → a JSON number that prints exactly (`1000000` → `1.0`, `1` → `1e-06`)."""
    return float(Decimal(micros) / MICROS_PER_DOLLAR)


def to_usd_text(micros: int) -> str:
    """Micro-dollars → an exact decimal string with six places (`1500000` → `"1.500000"`)."""
    sign = "-" if micros < 0 else ""
    whole, fraction = divmod(abs(micros), MICROS_PER_DOLLAR)
    return f"{sign}{whole}.{fraction:06d}"
