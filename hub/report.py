"""Summaries as tables: the demo's, the simulator's."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table

from hub.demo import DemoSummary
from hub.indicators import ALL_DEPARTMENTS
from producers.simulation import SimulationSummary

__all__ = ["simulation_table", "summary_table"]


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


def simulation_table(summary: SimulationSummary) -> Group:
    """What ``hub simulate`` produced: files, records by department and dirt, publishing rate."""
    files = Table(title="hub simulate", show_header=True)
    files.add_column("what")
    files.add_column("how many", justify="right")
    files.add_column("seconds", justify="right")
    files.add_column("where / rate")
    files.add_row(
        "population registry",
        f"{summary.citizens:,}",
        f"{summary.population_seconds + summary.registry_seconds:.1f}",
        str(summary.registry_file or "(not written)"),
    )
    files.add_row(
        "department records",
        f"{summary.records:,}",
        f"{summary.records_seconds:.1f}",
        f"{summary.records_per_second:,.0f} records/s",
    )
    files.add_row("  in Đề án 06 bundles", f"{summary.bundled:,}", "", "")
    files.add_row(
        "ground truth", f"{summary.records:,}", "", str(summary.ground_truth_file or "(not written)")
    )
    for department, path in summary.record_files.items():
        files.add_row(f"  {department} export", f"{summary.by_department[department]:,}", "", str(path))

    departments = Table(title="records by department")
    departments.add_column("department")
    departments.add_column("records", justify="right")
    departments.add_column("published", justify="right")
    departments.add_column("delivered", justify="right")
    departments.add_column("failed", justify="right")
    for department, count in sorted(summary.by_department.items()):
        sent = summary.published.get(department)
        departments.add_row(
            department,
            f"{count:,}",
            f"{sent.sent:,}" if sent else "-",
            f"{sent.delivered:,}" if sent else "-",
            f"{sent.failed:,}" if sent else "-",
        )

    dirt = Table(title="dirt and expected outcome (ground truth)")
    dirt.add_column("dirt")
    dirt.add_column("records", justify="right")
    dirt.add_column("share", justify="right")
    dirt.add_column("expected outcome")
    from producers.simulate import EXPECTED

    for kind, count in summary.by_dirt.most_common():
        dirt.add_row(kind, f"{count:,}", f"{count / max(summary.records, 1):.2%}", EXPECTED[kind])
    return Group(files, departments, dirt)
