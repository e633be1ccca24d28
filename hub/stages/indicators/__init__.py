"""Indicators: the province's scored indicators (Quyết định 766/QĐ-TTg), live and exact.

``formulas`` holds the published formulas as pure functions; ``records`` reads a dossier's
dimensions and facts; ``periods`` names days, ISO weeks and months; ``store`` keeps each
dossier once per record id (SQL, the source of ``hub report``); ``live`` keeps the counts of
every period in memory; ``stage`` is the thin stage that feeds one to the other; ``counts``
turns the counts into events (a delta per batch, the state after a start) and ``tables`` is the
faust worker that keeps them in a windowed table with its changelog and serves /indicators/.
"""

from hub.stages.indicators.stage import IndicatorStage, build
from hub.stages.indicators.store import DossierStore

__all__ = ["DossierStore", "IndicatorStage", "build"]
