"""The demo's summary as a table."""

from __future__ import annotations

from rich.table import Table

from hub.demo import DemoSummary
from hub.indicators import ALL_DEPARTMENTS

__all__ = ["summary_table"]


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.2%}"


def summary_table(summary: DemoSummary) -> Table:
    """Published, reconciled, rejected by reason, reuse rate, forwarded, per department."""
    table = Table(title=f"hub demo: {summary.seconds:.1f} s", show_footer=True)
    table.add_column("department", footer="all")
    table.add_column("published", justify="right", footer=str(sum(summary.published.values())))
    table.add_column("reconciled", justify="right", footer=str(sum(summary.reconciled.values())))
    table.add_column("rejected", justify="right",
                     footer=str(sum(sum(r.values()) for r in summary.rejected.values())))
    table.add_column("rejected by reason")
    reuse_all = summary.reuse.get(ALL_DEPARTMENTS)
    table.add_column("reuse rate", justify="right", footer=_pct(reuse_all.rate if reuse_all else None))
    for department, published in summary.published.items():
        rejected = summary.rejected.get(department, {})
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(rejected.items(), key=lambda x: -x[1]))
        reuse = summary.reuse.get(department)
        table.add_row(department, str(published), str(summary.reconciled.get(department, 0)),
                      str(sum(rejected.values())), reasons or "-",
                      _pct(reuse.rate if reuse else None))
    acks = ", ".join(f"{status.lower()} {n}" for status, n in summary.acknowledged.items() if n)
    table.caption = (f"forwarded to the national exchange: {summary.forwarded}; "
                     f"acknowledged: {acks or 'none'}"
                     + (f"; exchange holds {summary.exchange_accepted} records"
                        if summary.exchange_accepted else ""))
    return table
