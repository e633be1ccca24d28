"""What ``hub report`` prints: each indicator with its numerator and denominator, for a period
of receipt and a dimension, counted exactly from the SQL store."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from hub.errors import InputError
from hub.stages.indicators.formulas import INDICATOR_NAMES, INDICATORS, Facts, evaluate
from hub.stages.indicators.periods import Period
from hub.stages.indicators.store import DIMENSIONS, DossierStore

__all__ = ["ReportRow", "report"]


@dataclass(frozen=True, slots=True)
class ReportRow:
    period: str
    dimension: str
    value: str
    indicator: str
    numerator: int
    denominator: int
    rate: float | None
    points: float | None


def report(
    store: DossierStore, period: Period | None, by: str = "province", indicators: Sequence[str] = ()
) -> list[ReportRow]:
    """The indicators of the dossiers received in ``period`` (every one held when None), one row
    per value of dimension ``by`` and indicator, values in order."""
    if by not in DIMENSIONS:
        raise InputError(f"--by {by!r}: one of {', '.join(DIMENSIONS)}")
    unknown = [name for name in indicators if name not in INDICATOR_NAMES]
    if unknown:
        raise InputError(f"no indicator {', '.join(unknown)}; one of {', '.join(INDICATOR_NAMES)}")
    chosen = [i for i in INDICATORS if not indicators or i.name in indicators]
    first, last = (period.first, period.last) if period else (None, None)
    tallies = store.tallies(by, first, last, by_day=False)
    merged: dict[str, Counter[Facts]] = {}
    for (_, value), tally in tallies.items():
        merged.setdefault(value, Counter()).update(tally)
    label = period.label if period else "all"
    rows = []
    for value in sorted(merged):
        ratios = evaluate(merged[value])
        for indicator in chosen:
            ratio = ratios[indicator.name]
            rows.append(
                ReportRow(
                    label,
                    by,
                    value,
                    indicator.name,
                    ratio.numerator,
                    ratio.denominator,
                    ratio.rate,
                    indicator.score(ratio),
                )
            )
    return rows
