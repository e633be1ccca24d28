"""Indicators: the reuse rate (and, later, the province's other 766 indicators) from department records.

``formulas`` holds the published formulas as pure functions; ``store`` keeps each dossier's
facts once per record id (SQL); ``stage`` is the thin stage that feeds one to the other.
"""

from hub.stages.indicators.formulas import ALL_DEPARTMENTS, REUSE_RATE, REUSE_TARGET, Ratio
from hub.stages.indicators.stage import IndicatorStage, build
from hub.stages.indicators.store import DossierStore

__all__ = [
    "ALL_DEPARTMENTS",
    "REUSE_RATE",
    "REUSE_TARGET",
    "DossierStore",
    "IndicatorStage",
    "Ratio",
    "build",
]
