"""The demo's summary as tables."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table

from hub.demo import DemoSummary
from hub.indicators import ALL_DEPARTMENTS

__all__ = ["summary_table"]


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.2%}"


def summary_table(summary: DemoSummary) -> Group:
    """Per department: published, reconciled, rejected, reuse rate; then outcomes by reason."""
    departments = list(summary.published)
    main = Table(title=f"hub demo: {summary.seconds:.1f} s", show_footer=True)
    main.add_column("department", footer="all")
    main.add_column("published", justify="right", footer=str(sum(summary.published.values())))
    main.add_column("reconciled", justify="right", footer=str(sum(summary.reconciled.values())))
    main.add_column(
        "rejected", justify="right", footer=str(sum(sum(r.values()) for r in summary.rejected.values()))
    )
    reuse_all = summary.reuse.get(ALL_DEPARTMENTS)
    main.add_column("reuse rate", justify="right", footer=_pct(reuse_all.rate if reuse_all else None))
    for department in departments:
        reuse = summary.reuse.get(department)
        main.add_row(
            department,
            str(summary.published[department]),
            str(summary.reconciled.get(department, 0)),
            str(sum(summary.rejected.get(department, {}).values())),
            _pct(reuse.rate if reuse else None),
        )
    acks = ", ".join(f"{status.lower()} {n}" for status, n in summary.acknowledged.items() if n)
    main.caption = f"forwarded to the national exchange: {summary.forwarded}; acknowledged: {acks or 'none'}"

    reasons = Table(title="rejected, by reason")
    reasons.add_column("reason")
    for department in departments:
        reasons.add_column(department, justify="right")
    every = sorted({r for per in summary.rejected.values() for r in per})
    for reason in every:
        reasons.add_row(reason, *(str(summary.rejected.get(d, {}).get(reason, 0)) for d in departments))
    return Group(main, reasons)
