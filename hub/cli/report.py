"""``hub report``: the province's indicators, exactly, from the dossiers the hub has counted."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

__all__ = ["report"]


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class By(StrEnum):
    province = "province"
    department = "department"
    district = "district"
    commune = "commune"
    procedure = "procedure"


def report(
    period: Annotated[
        str | None,
        typer.Option(help="A day (2026-11-20), an ISO week (2026-W47) or a month (2026-11) of receipt."),
    ] = None,
    by: Annotated[By, typer.Option(help="One row per value of this dimension.")] = By.province,
    indicator: Annotated[
        list[str] | None, typer.Option(help="Only this indicator (repeatable); every one by default.")
    ] = None,
    format: Annotated[Format, typer.Option("--format", help="How to print.")] = Format.table,
) -> None:
    """Print each indicator's rate with its numerator and denominator, and the 766 points it earns.

    Dossiers count in the period they were received (event time, Vietnam), once per record id;
    district and commune are the residence the population registry verified ("unverified" when
    reconciliation did not match the citizen). Without --period: every dossier held. Indicators
    the hub's data cannot give (satisfaction, e-copies, ...) are listed as not computable.
    """
    import csv
    import dataclasses
    import json
    import sys

    from rich.table import Table

    from hub.cli.console import out, print_table
    from hub.db import connect
    from hub.settings import Settings
    from hub.stages.indicators.formulas import NOT_COMPUTABLE
    from hub.stages.indicators.periods import parse_period
    from hub.stages.indicators.report import report as compute
    from hub.stages.indicators.store import DossierStore

    chosen = parse_period(period) if period else None
    settings = Settings()
    engine = connect(settings.resolved_database_url)
    try:
        rows = compute(DossierStore(engine), chosen, by.value, indicator or ())
    finally:
        engine.dispose()
    missing = [
        {"indicator": n.name, "group": n.group, "points": n.points, "why": n.why} for n in NOT_COMPUTABLE
    ]
    if format is Format.json:
        body = {"rows": [dataclasses.asdict(r) for r in rows], "not_computable": missing}
        out.file.write(json.dumps(body, ensure_ascii=False, indent=2) + "\n")
        return
    if format is Format.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow([f.name for f in dataclasses.fields(rows[0])] if rows else ["period"])
        writer.writerows(dataclasses.astuple(r) for r in rows)
        return
    title = f"indicators, received {chosen.label if chosen else 'at any time'}, by {by.value}"
    table = Table(
        "period", by.value, "indicator", "numerator", "denominator", "rate", "766 points", title=title
    )
    for r in rows:
        rate = "-" if r.rate is None else f"{r.rate:.2%}"
        points = "-" if r.points is None else f"{r.points:.2f}"
        table.add_row(r.period, r.value, r.indicator, f"{r.numerator:,}", f"{r.denominator:,}", rate, points)
    table.caption = "not computable from hub data: " + "; ".join(
        f"{m['indicator']} ({m['why']})" for m in missing
    )
    if not rows:
        table.caption = "no dossiers counted for this period. " + table.caption
    print_table(table, whole=(1, 2))
